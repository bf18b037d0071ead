"""A batch's Idempotency-Key keeps its first answer, a refused atomic batch's included."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from strongroom import BatchResult, IdempotencyKeyReused, Ledger, TransferRequest

CONCURRENCY = 8


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    """``user:1`` holds 100; ``shop`` is empty."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 100, "USD")
    return ledger


def _sale(key: str | None = None, amount: int = 60) -> TransferRequest:
    return TransferRequest("user:1", "shop", amount, "USD", idempotency_key=key)


SALES = [_sale("item-0"), _sale("item-1")]  # the second finds only 40 left


def _refused(ledger: Ledger, key: str = "K1") -> list[BatchResult]:
    return ledger.batch(SALES, atomic=True, idempotency_key=key)


def _bodies(results: list[BatchResult]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]


def test_a_refused_atomic_batch_answers_the_same_again(books: Ledger) -> None:
    """Its key replays the refusal, every item's error, though the items would pass now."""
    first = _refused(books)
    books.transfer("@world", "user:1", 100, "USD")
    again = _refused(books)
    assert [r.status for r in first] == [422, 422]
    assert [r.error.code for r in first if r.error] == ["BATCH_ABORTED", "INSUFFICIENT_FUNDS"]
    assert _bodies(again) == _bodies(first)
    assert books.get_account("shop").balance.posted == 0


def test_a_replayed_refusal_is_marked_replayed(books: Ledger) -> None:
    """The first answer is not a replay; the second, and each of its errors, is."""
    first = _refused(books)
    again = _refused(books)
    assert [r.replayed for r in first] == [False, False]
    assert [r.replayed for r in again] == [True, True]
    assert all(r.error is not None and r.error.replayed for r in again)


def test_a_refusal_replay_writes_nothing(books: Ledger) -> None:
    """Replaying a refused atomic batch appends no journal entry."""
    _refused(books)
    head = books.head()
    _refused(books)
    assert books.head() == head


def test_a_refused_batch_key_with_another_batch_is_reused(books: Ledger) -> None:
    """The key of a refused atomic batch, sent with another batch, is IDEMPOTENCY_KEY_REUSED."""
    _refused(books)
    with pytest.raises(IdempotencyKeyReused):
        books.batch([_sale(amount=1)], atomic=True, idempotency_key="K1")


def test_the_failing_item_key_stays_unused(books: Ledger) -> None:
    """The failing item of a refused atomic batch was not applied: its key applies it later."""
    _refused(books)
    books.transfer("@world", "user:1", 100, "USD")
    tx = books.transfer("user:1", "shop", 60, "USD", idempotency_key="item-1")
    assert not tx.replayed
    assert books.get_account("shop").balance.posted == 60


def test_an_aborted_item_key_stays_unused(books: Ledger) -> None:
    """An item aborted with its atomic batch was not applied: its key applies it later."""
    _refused(books)
    results = books.batch([_sale("item-0")], idempotency_key="K2")
    assert results[0].transaction is not None
    assert not results[0].transaction.replayed
    assert books.get_account("shop").balance.posted == 60


def test_a_refusal_without_a_batch_key_is_not_stored(books: Ledger) -> None:
    """Without a batch key, the same atomic batch is tried afresh: it passes once funded."""
    books.batch(SALES, atomic=True)
    books.transfer("@world", "user:1", 100, "USD")
    results = books.batch(SALES, atomic=True)
    assert [r.status for r in results] == [201, 201]


def test_concurrent_duplicate_refusals_answer_alike(books: Ledger) -> None:
    """Identical refused atomic batches sent at once with one key all answer the first refusal."""
    barrier = threading.Barrier(CONCURRENCY)

    def one(_: int) -> list[BatchResult]:
        barrier.wait(timeout=30)
        return _refused(books)

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        answers = list(pool.map(one, range(CONCURRENCY)))
    assert all(_bodies(answer) == _bodies(answers[0]) for answer in answers)
    assert sum(not answer[0].replayed for answer in answers) == 1
    assert books.get_account("shop").balance.posted == 0


def test_a_duplicate_that_answers_first_gives_its_answer(
    books: Ledger, open_ledger: Callable[..., Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate that stores its answer before a refusal is stored makes it the answer of both."""
    other = open_ledger()
    duplicate: list[list[BatchResult]] = []
    transact = books.transact

    def between(work: Callable[[Any], Any]) -> Any:
        if not duplicate:  # the batch's own unit of work: it is refused
            duplicate.append([])
            return transact(work)
        # Before the refusal is stored: funds arrive, a duplicate passes and keeps the key.
        other.transfer("@world", "user:1", 100, "USD")
        duplicate[0] = _refused(other)
        return transact(work)

    monkeypatch.setattr(books, "transact", between)
    answer = _refused(books)
    assert [r.status for r in duplicate[0]] == [201, 201]
    assert _bodies(answer) == _bodies(duplicate[0])
    assert [r.replayed for r in answer] == [True, True]
    assert books.get_account("shop").balance.posted == 120
