"""Reversals: a new posted transaction with every line swapped, once per original."""

from __future__ import annotations

import pytest

from strongroom import InvalidState, Ledger, Line, TxStatus


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD")
    return ledger


def test_reversal_swaps_every_line(books: Ledger) -> None:
    """A reversal debits what was credited and links to the original."""
    tx = books.transfer("user:1", "shop", 300, "USD", kind="purchase")
    rev = books.reverse(tx.id)
    assert rev.reverses == tx.id
    assert rev.status is TxStatus.POSTED
    assert [(x.account, x.side, x.amount) for x in rev.lines] == [
        ("user:1", "credit", 300),
        ("shop", "debit", 300),
    ]
    assert books.get_account("user:1").balance.posted == 1000


def test_reversal_happens_once(books: Ledger) -> None:
    """A transaction reverses at most once."""
    tx = books.transfer("user:1", "shop", 300, "USD")
    books.reverse(tx.id)
    with pytest.raises(InvalidState):
        books.reverse(tx.id)


def test_reversal_is_idempotent(books: Ledger) -> None:
    """Replaying a reversal with its key returns the same reversal."""
    tx = books.transfer("user:1", "shop", 300, "USD")
    first = books.reverse(tx.id, idempotency_key="rev-1")
    again = books.reverse(tx.id, idempotency_key="rev-1")
    assert again.id == first.id
    assert again.replayed


def test_a_reversal_is_not_reversed(books: Ledger) -> None:
    """Reversing a reversal is refused; post a new transaction instead."""
    rev = books.reverse(books.transfer("user:1", "shop", 5, "USD").id)
    with pytest.raises(InvalidState):
        books.reverse(rev.id)


def test_pending_cannot_be_reversed(books: Ledger) -> None:
    """Only posted transactions reverse; a hold is voided instead."""
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    with pytest.raises(InvalidState):
        books.reverse(hold.id)


def test_partially_posted_hold_reverses_what_was_posted(books: Ledger) -> None:
    """Reversing a hold posted in part moves back only the posted amount."""
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    books.post_pending(hold.id, amount=120)
    rev = books.reverse(hold.id)
    assert {x.amount for x in rev.lines} == {120}
    assert books.get_account("shop").balance.posted == 0


def test_multi_line_reversal(books: Ledger) -> None:
    """Every line of a multi-line transaction is swapped."""
    books.create_account("fees", currency="USD")
    tx = books.post(
        [Line("user:1", "debit", 70), Line("shop", "credit", 50), Line("fees", "credit", 20)],
        currency="USD",
    )
    books.reverse(tx.id)
    assert books.get_account("fees").balance.posted == 0
    assert books.get_account("user:1").balance.posted == 1000
