"""A hold past its deadline reads expired at once; the sweeper's entry releases its funds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from strongroom import (
    HoldNotPending,
    InsufficientFunds,
    InvalidState,
    Ledger,
    Transaction,
    TxStatus,
)
from strongroom.testing import FakeClock

TIMEOUT = 60


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    """``user:1`` holds 1000; ``shop`` is empty."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD")
    return ledger


@pytest.fixture
def hold(books: Ledger) -> Transaction:
    """300 of ``user:1`` held for ``shop``, for TIMEOUT seconds."""
    return books.transfer("user:1", "shop", 300, "USD", pending=True, timeout_seconds=TIMEOUT)


def _at_deadline(clock: FakeClock, hold: Transaction, microseconds: int) -> None:
    """Set the clock ``microseconds`` after the hold's deadline (before it, when negative)."""
    assert hold.expires_at is not None
    clock.set(hold.expires_at + timedelta(microseconds=microseconds))


@pytest.mark.parametrize(
    ("microseconds", "status"),
    [(-1, TxStatus.PENDING), (0, TxStatus.EXPIRED), (1, TxStatus.EXPIRED)],
    ids=["before", "at", "after"],
)
def test_a_hold_reads_expired_from_its_deadline(
    books: Ledger, hold: Transaction, clock: FakeClock, microseconds: int, status: TxStatus
) -> None:
    """get_transaction shows a hold expired from its deadline on, before any sweep."""
    _at_deadline(clock, hold, microseconds)
    assert books.get_transaction(hold.id).status is status


@pytest.mark.parametrize("microseconds", [-1, 0], ids=["before", "at"])
def test_a_hold_reads_pending_exactly_while_it_can_be_voided(
    books: Ledger, hold: Transaction, clock: FakeClock, microseconds: int
) -> None:
    """A read says pending exactly when void_pending still accepts the hold."""
    _at_deadline(clock, hold, microseconds)
    reads_pending = books.get_transaction(hold.id).status is TxStatus.PENDING
    try:
        books.void_pending(hold.id)
        voided = True
    except HoldNotPending:
        voided = False
    assert voided == reads_pending


def test_a_listed_hold_reads_expired(books: Ledger, hold: Transaction, clock: FakeClock) -> None:
    """list_transactions shows a hold past its deadline expired, before any sweep."""
    clock.advance(TIMEOUT + 1)
    listed = {tx.id: tx.status for tx in books.list_transactions(account="shop").data}
    assert listed == {hold.id: TxStatus.EXPIRED}


def test_reading_an_expired_hold_writes_nothing(
    books: Ledger, hold: Transaction, clock: FakeClock
) -> None:
    """A read of an expired hold appends no entry and no event: the sweeper still expires it."""
    clock.advance(TIMEOUT + 1)
    head, events = books.head(), books.events(limit=1000)
    books.get_transaction(hold.id)
    books.list_transactions()
    assert (books.head(), books.events(limit=1000)) == (head, events)
    assert books.expire_holds() == 1
    assert books.events(limit=1000)[-1]["type"] == "transaction.expired"


def test_an_unswept_expired_hold_still_holds_its_amount(
    books: Ledger, hold: Transaction, clock: FakeClock
) -> None:
    """Until the sweeper's entry, the balance keeps the amount held, as the journal records it."""
    clock.advance(TIMEOUT + 1)
    balance = books.get_account("user:1").balance
    assert (balance.pending_debits, balance.available) == (300, 700)


def test_an_unswept_expired_hold_cannot_be_spent_yet(
    books: Ledger, hold: Transaction, clock: FakeClock
) -> None:
    """A write, like the balance, counts the amount held until the sweeper releases it."""
    clock.advance(TIMEOUT + 1)
    with pytest.raises(InsufficientFunds):
        books.transfer("user:1", "shop", 1000, "USD")


def test_an_expired_hold_is_refused_alike_before_and_after_the_sweep(
    books: Ledger, hold: Transaction, clock: FakeClock
) -> None:
    """Posting an expired hold is HOLD_NOT_PENDING with expired=True, swept or not."""
    clock.advance(TIMEOUT + 1)
    refusals = []
    for sweep in (False, True):
        if sweep:
            books.expire_holds()
        with pytest.raises(HoldNotPending) as refused:
            books.post_pending(hold.id)
        refusals.append(refused.value.to_dict())
    assert refusals[0] == refusals[1]
    assert refusals[0]["expired"] is True


def test_reversing_an_expired_hold_names_it_expired(
    books: Ledger, hold: Transaction, clock: FakeClock
) -> None:
    """A reversal of an unswept expired hold is refused as of an expired transaction."""
    clock.advance(TIMEOUT + 1)
    with pytest.raises(InvalidState, match="is expired"):
        books.reverse(hold.id)
