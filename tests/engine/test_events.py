"""The outbox: every change writes its event in the same database transaction."""

from __future__ import annotations

import pytest

from strongroom import InsufficientFunds, Ledger, TransferRequest


def _types(ledger: Ledger) -> list[str]:
    return [e["type"] for e in ledger.events(limit=1000)]


def test_each_change_writes_its_event(ledger: Ledger) -> None:
    """Accounts, transfers, holds and reversals each write the event named in API.md."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    ledger.transfer("@world", "u", 100, "USD")
    hold = ledger.transfer("u", "@world", 10, "USD", pending=True)
    ledger.post_pending(hold.id)
    ledger.void_pending(ledger.transfer("u", "@world", 10, "USD", pending=True).id)
    ledger.reverse(hold.id)
    ledger.update_account("u", metadata={"tier": "gold"})
    assert _types(ledger) == [
        "account.created",
        "account.created",
        "transaction.posted",
        "transaction.pending",
        "transaction.posted",
        "transaction.pending",
        "transaction.voided",
        "transaction.posted",
        "transaction.reversed",
        "account.updated",
    ]


def test_events_are_in_commit_order_with_gapless_seq(ledger: Ledger) -> None:
    """Events of a tenant carry a gapless sequence in commit order."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    ledger.batch([TransferRequest("@world", "u", 1, "USD") for _ in range(10)])
    seqs = [e["seq"] for e in ledger.events(limit=1000)]
    assert seqs == list(range(1, 13))


def test_a_failed_write_writes_no_event(ledger: Ledger) -> None:
    """A rejected request leaves no event behind."""
    ledger.create_account("u", currency="USD")
    ledger.create_account("v", currency="USD")
    before = _types(ledger)
    with pytest.raises(InsufficientFunds):
        ledger.transfer("u", "v", 5, "USD")
    assert _types(ledger) == before


def test_replay_writes_no_event(ledger: Ledger) -> None:
    """An idempotent replay is not a change and writes no event."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    ledger.transfer("@world", "u", 1, "USD", idempotency_key="k")
    count = len(_types(ledger))
    ledger.transfer("@world", "u", 1, "USD", idempotency_key="k")
    assert len(_types(ledger)) == count


def test_transaction_event_carries_the_transaction(ledger: Ledger) -> None:
    """A transaction event's data is the transaction with its resulting balances."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    tx = ledger.transfer("@world", "u", 7, "USD")
    event = ledger.events(limit=1000)[-1]
    assert event["id"].startswith("evt_")
    assert event["data"]["id"] == tx.id
    assert event["data"]["balances"]["u"]["posted"] == 7
