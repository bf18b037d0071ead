"""Batches: many transactions in one database transaction, each with its own result."""

from __future__ import annotations

import pytest

from strongroom import Ledger, TransferRequest, ValidationError


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 100, "USD")
    return ledger


def test_non_atomic_batch_keeps_the_good_items(books: Ledger) -> None:
    """A failing item gets its own error; its neighbours commit."""
    results = books.batch(
        [
            TransferRequest("user:1", "shop", 60, "USD"),
            TransferRequest("user:1", "shop", 60, "USD"),  # only 40 left
            {"lines": [{"account": "@world", "side": "debit", "amount": 5},
                       {"account": "shop", "side": "credit", "amount": 5}], "currency": "USD"},
        ]
    )  # fmt: skip
    assert [r.status for r in results] == [201, 422, 201]
    assert results[1].error is not None
    assert results[1].error.code == "INSUFFICIENT_FUNDS"
    assert books.get_account("shop").balance.posted == 65


def test_atomic_batch_is_all_or_nothing(books: Ledger) -> None:
    """One failing item aborts every other item of an atomic batch."""
    head = books.head()
    results = books.batch(
        [
            TransferRequest("user:1", "shop", 60, "USD"),
            TransferRequest("user:1", "shop", 60, "USD"),
        ],
        atomic=True,
    )
    assert [r.error.code for r in results if r.error] == ["BATCH_ABORTED", "INSUFFICIENT_FUNDS"]
    assert books.head() == head
    assert books.get_account("shop").balance.posted == 0


def test_atomic_batch_commits_all(books: Ledger) -> None:
    """An atomic batch whose items all pass commits them all, in order."""
    results = books.batch(
        [TransferRequest("user:1", "shop", 10, "USD") for _ in range(5)], atomic=True
    )
    assert [r.transaction.seq for r in results if r.transaction] == [2, 3, 4, 5, 6]


def test_items_later_in_a_batch_see_earlier_ones(books: Ledger) -> None:
    """Items apply in request order: money received by item 1 can be spent by item 2."""
    results = books.batch(
        [
            {"from": "user:1", "to": "shop", "amount": 100, "currency": "USD"},
            {"from": "shop", "to": "user:1", "amount": 100, "currency": "USD"},
        ]
    )
    assert [r.status for r in results] == [201, 201]


def test_batch_items_replay_by_key(books: Ledger) -> None:
    """An item whose key was used before returns the first result."""
    first = books.batch([TransferRequest("user:1", "shop", 10, "USD", idempotency_key="b1")])
    again = books.batch([TransferRequest("user:1", "shop", 10, "USD", idempotency_key="b1")])
    assert first[0].transaction is not None
    assert again[0].transaction is not None
    assert again[0].transaction.id == first[0].transaction.id
    assert again[0].transaction.replayed


def test_malformed_items_fail_alone(books: Ledger) -> None:
    """A malformed item gets VALIDATION_ERROR; the others still run."""
    results = books.batch([{"from": "user:1"}, TransferRequest("user:1", "shop", 1, "USD")])
    assert [r.status for r in results] == [400, 201]


@pytest.mark.parametrize("size", [0, 1001], ids=["empty", "too-long"])
def test_batch_length_is_bounded(books: Ledger, size: int) -> None:
    """A batch has 1 to 1000 items."""
    with pytest.raises(ValidationError):
        books.batch([TransferRequest("user:1", "shop", 1, "USD")] * size)


def test_verify_after_batches(books: Ledger) -> None:
    """Batched entries chain and replay like single ones."""
    books.batch([TransferRequest("user:1", "shop", 1, "USD") for _ in range(50)])
    assert books.verify().ok
