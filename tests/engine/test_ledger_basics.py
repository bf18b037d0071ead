"""The library contract, one behaviour at a time, on every backend."""

from __future__ import annotations

import pytest

from strongroom import (
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientFunds,
    Ledger,
    Line,
    TxStatus,
    ValidationError,
)
from strongroom.testing import FakeClock


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD", idempotency_key="dep-1")
    return ledger


def test_transfer_moves_money_and_returns_balances(funded: Ledger) -> None:
    """A transfer debits one account, credits the other, and reports both balances."""
    tx = funded.transfer("user:1", "shop", 400, "USD")
    assert tx.status is TxStatus.POSTED
    assert tx.balances["user:1"].posted == 600
    assert tx.balances["shop"].available == 400
    assert funded.get_account("shop").balance.posted == 400


def test_same_key_same_request_replays(funded: Ledger) -> None:
    """Replaying a key with the same request returns the first result and writes nothing."""
    first = funded.transfer("user:1", "shop", 100, "USD", idempotency_key="k")
    again = funded.transfer("user:1", "shop", 100, "USD", idempotency_key="k")
    assert again.id == first.id
    assert again.replayed
    assert funded.get_account("shop").balance.posted == 100


def test_same_key_other_request_is_refused(funded: Ledger) -> None:
    """A key reused with a different request raises IDEMPOTENCY_KEY_REUSED."""
    funded.transfer("user:1", "shop", 100, "USD", idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        funded.transfer("user:1", "shop", 101, "USD", idempotency_key="k")


def test_overdraft_is_refused(funded: Ledger) -> None:
    """Spending more than the available balance raises INSUFFICIENT_FUNDS."""
    with pytest.raises(InsufficientFunds) as caught:
        funded.transfer("user:1", "shop", 1001, "USD")
    assert caught.value.code == "INSUFFICIENT_FUNDS"


def test_multi_line_transaction(funded: Ledger) -> None:
    """A balanced multi-line transaction posts every line."""
    funded.create_account("fees", currency="USD")
    tx = funded.post(
        [Line("user:1", "debit", 70), Line("shop", "credit", 50), Line("fees", "credit", 20)],
        currency="USD",
        idempotency_key="sale-1",
    )
    assert len(tx.lines) == 3
    assert funded.get_account("fees").balance.posted == 20


def test_hold_partial_post_releases_the_rest(funded: Ledger) -> None:
    """Posting part of a hold posts that part and releases the remainder."""
    hold = funded.transfer("user:1", "shop", 300, "USD", pending=True, timeout_seconds=60)
    assert funded.get_account("user:1").balance.available == 700
    posted = funded.post_pending(hold.id, amount=250)
    assert posted.status is TxStatus.POSTED
    assert posted.pending_amount_posted == 250
    user = funded.get_account("user:1").balance
    assert (user.posted, user.pending_debits, user.available) == (750, 0, 750)


def test_hold_cannot_be_posted_twice(funded: Ledger) -> None:
    """A hold already voided answers HOLD_NOT_PENDING."""
    hold = funded.transfer("user:1", "shop", 300, "USD", pending=True)
    funded.void_pending(hold.id)
    with pytest.raises(HoldNotPending):
        funded.post_pending(hold.id)


def test_expiry_releases_holds(funded: Ledger, clock: FakeClock) -> None:
    """expire_holds voids holds past their deadline with status expired."""
    hold = funded.transfer("user:1", "shop", 300, "USD", pending=True, timeout_seconds=60)
    assert funded.expire_holds() == 0
    clock.advance(61)
    assert funded.expire_holds() == 1
    assert funded.get_transaction(hold.id).status is TxStatus.EXPIRED
    assert funded.get_account("user:1").balance.available == 1000


def test_verify_is_ok_after_writes(funded: Ledger) -> None:
    """verify reports ok when nothing was tampered with."""
    funded.transfer("user:1", "shop", 10, "USD")
    report = funded.verify()
    assert report.ok
    assert report.checked == funded.head()[0] == 2


def test_a_refusal_is_the_first_response_of_its_key(funded: Ledger) -> None:
    """A keyed request refused by a rule is refused again on replay, even once it could pass."""
    with pytest.raises(InsufficientFunds):
        funded.transfer("user:1", "shop", 5000, "USD", idempotency_key="big")
    funded.transfer("@world", "user:1", 10_000, "USD")
    with pytest.raises(InsufficientFunds) as again:
        funded.transfer("user:1", "shop", 5000, "USD", idempotency_key="big")
    assert again.value.replayed
    assert funded.get_account("shop").balance.posted == 0


def test_a_malformed_request_leaves_its_key_unused(funded: Ledger) -> None:
    """A request that fails validation does not use up its key."""
    with pytest.raises(ValidationError):
        funded.transfer("user:1", "shop", 0, "USD", idempotency_key="k0")
    tx = funded.transfer("user:1", "shop", 1, "USD", idempotency_key="k0")
    assert not tx.replayed
