"""Tenants never see each other: another tenant's id answers like a missing one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from strongroom import Ledger, NotFound


@pytest.fixture
def pair(open_ledger: Callable[..., Ledger]) -> tuple[Ledger, Ledger]:
    a, b = open_ledger(tenant="alpha"), open_ledger(tenant="beta")
    for ledger in (a, b):
        ledger.create_account("@world", currency="USD", overdraft_limit=None)
        ledger.create_account("user:1", currency="USD")
    return a, b


def test_same_account_ids_are_separate(pair: tuple[Ledger, Ledger]) -> None:
    """Two tenants may use the same account id; their balances are separate."""
    a, b = pair
    a.transfer("@world", "user:1", 10, "USD")
    assert a.get_account("user:1").balance.posted == 10
    assert b.get_account("user:1").balance.posted == 0


def test_other_tenants_transaction_is_not_found(pair: tuple[Ledger, Ledger]) -> None:
    """A transaction id of tenant A is NOT_FOUND for tenant B, for reads and writes."""
    a, b = pair
    tx = a.transfer("@world", "user:1", 10, "USD")
    hold = a.transfer("user:1", "@world", 5, "USD", pending=True)
    with pytest.raises(NotFound):
        b.get_transaction(tx.id)
    with pytest.raises(NotFound):
        b.reverse(tx.id)
    with pytest.raises(NotFound):
        b.post_pending(hold.id)
    with pytest.raises(NotFound):
        b.void_pending(hold.id)


def test_lists_do_not_leak(pair: tuple[Ledger, Ledger]) -> None:
    """Lists, events and statements show only the tenant's own rows."""
    a, b = pair
    a.create_account("only-a", currency="USD")
    a.transfer("@world", "user:1", 10, "USD")
    assert "only-a" not in [x.id for x in b.list_accounts().data]
    assert b.list_transactions().data == []
    assert b.statement("user:1").data == []
    assert all(e["data"].get("id") != "only-a" for e in b.events(limit=1000))


def test_chains_are_per_tenant(pair: tuple[Ledger, Ledger]) -> None:
    """Each tenant has its own sequence and hash chain, each verifiable alone."""
    a, b = pair
    a.transfer("@world", "user:1", 10, "USD")
    a.transfer("@world", "user:1", 10, "USD")
    b.transfer("@world", "user:1", 10, "USD")
    assert a.head()[0] == 2
    assert b.head()[0] == 1
    assert a.verify().ok
    assert b.verify().ok


def test_idempotency_keys_are_per_tenant(pair: tuple[Ledger, Ledger]) -> None:
    """The same key in two tenants names two different requests."""
    a, b = pair
    ta = a.transfer("@world", "user:1", 10, "USD", idempotency_key="k")
    tb = b.transfer("@world", "user:1", 20, "USD", idempotency_key="k")
    assert ta.id != tb.id
    assert not tb.replayed
