"""Accounts: creation, ids, status rules, limits, units and tenants."""

from __future__ import annotations

import pytest

from strongroom import (
    AccountFrozen,
    AlreadyExists,
    InsufficientFunds,
    InvalidState,
    Ledger,
    NotFound,
    UnknownCurrency,
    ValidationError,
)


def test_created_account_reads_back(ledger: Ledger) -> None:
    """An account reads back with its currency, side, limit, metadata and zero balance."""
    ledger.create_account("user:42:wallet", currency="EUR", metadata={"kyc": "done"})
    account = ledger.get_account("user:42:wallet")
    assert (account.currency, account.normal_balance.value, account.overdraft_limit) == (
        "EUR",
        "credit",
        0,
    )
    assert account.metadata == {"kyc": "done"}
    assert account.balance.posted == 0
    assert account.version == 1


def test_generated_id(ledger: Ledger) -> None:
    """Without an id, the ledger makes one."""
    account = ledger.create_account(currency="USD")
    assert account.id.startswith("acc_")
    assert ledger.get_account(account.id).id == account.id


def test_idempotent_creation_replays_the_generated_id(ledger: Ledger) -> None:
    """A replayed creation returns the same generated id and creates nothing more."""
    first = ledger.create_account(currency="USD", idempotency_key="acc-1")
    again = ledger.create_account(currency="USD", idempotency_key="acc-1")
    assert again.id == first.id
    assert again.replayed
    assert len(ledger.list_accounts().data) == 1


def test_duplicate_id_is_refused(ledger: Ledger) -> None:
    """Creating an existing id raises ALREADY_EXISTS."""
    ledger.create_account("a", currency="USD")
    with pytest.raises(AlreadyExists):
        ledger.create_account("a", currency="USD")


@pytest.mark.parametrize(
    "account_id", ["", "has space", "a/b", "x" * 129, ":leading"], ids=lambda v: repr(v)[:12]
)
def test_bad_account_ids(ledger: Ledger, account_id: str) -> None:
    """Ids outside the allowed alphabet or length are refused."""
    with pytest.raises(ValidationError):
        ledger.create_account(account_id, currency="USD")


def test_debit_normal_account_sign(ledger: Ledger) -> None:
    """A debit-normal account's balance grows with debits."""
    ledger.create_account("clearing", currency="USD", normal_balance="debit")
    ledger.create_account("user", currency="USD")
    ledger.transfer("clearing", "user", 50, "USD")
    assert ledger.get_account("clearing").balance.posted == 50
    assert ledger.get_account("user").balance.posted == 50


def test_overdraft_limit_allows_going_negative(ledger: Ledger) -> None:
    """An overdraft limit lets available go down to -limit and no further."""
    ledger.create_account("u", currency="USD", overdraft_limit=100)
    ledger.create_account("v", currency="USD")
    ledger.transfer("u", "v", 100, "USD")
    assert ledger.get_account("u").balance.available == -100
    with pytest.raises(InsufficientFunds):
        ledger.transfer("u", "v", 1, "USD")


def test_frozen_account_releases_its_holds(ledger: Ledger) -> None:
    """A frozen account takes no debits, yet its holds can still be voided."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    ledger.transfer("@world", "u", 100, "USD")
    hold = ledger.transfer("u", "@world", 40, "USD", pending=True)
    ledger.update_account("u", status="frozen")
    with pytest.raises(AccountFrozen):
        ledger.transfer("u", "@world", 1, "USD")
    with pytest.raises(AccountFrozen):
        ledger.post_pending(hold.id)
    ledger.void_pending(hold.id)
    assert ledger.get_account("u").balance.available == 100


def test_closed_account_cannot_reopen(ledger: Ledger) -> None:
    """A closed account stays closed."""
    ledger.create_account("u", currency="USD")
    ledger.update_account("u", status="closed")
    with pytest.raises(InvalidState):
        ledger.update_account("u", status="active")


def test_update_bumps_version_and_sets_limit(ledger: Ledger) -> None:
    """Updates change the limit (None: unlimited) and bump the version."""
    ledger.create_account("u", currency="USD")
    updated = ledger.update_account("u", overdraft_limit=None)
    assert updated.overdraft_limit is None
    assert updated.version == 2
    assert ledger.get_account("u").overdraft_limit is None


def test_an_update_that_leaves_out_the_limit_keeps_it(ledger: Ledger) -> None:
    """An update without overdraft_limit keeps the limit; None would make it unlimited."""
    ledger.create_account("u", currency="USD", overdraft_limit=50)
    updated = ledger.update_account("u", metadata={"tier": "gold"})
    assert (updated.overdraft_limit, updated.metadata) == (50, {"tier": "gold"})


def test_update_of_missing_account(ledger: Ledger) -> None:
    """Updating an unknown account raises NOT_FOUND."""
    with pytest.raises(NotFound):
        ledger.update_account("nobody", status="frozen")


def test_tenant_defined_unit(ledger: Ledger) -> None:
    """A tenant can define its own unit (chips) and use it like a currency."""
    with pytest.raises(UnknownCurrency):
        ledger.create_account("house", currency="CHIPS")
    ledger.define_unit("CHIPS", 0)
    ledger.create_account("house", currency="CHIPS", overdraft_limit=None)
    ledger.create_account("player", currency="CHIPS")
    ledger.transfer("house", "player", 500, "CHIPS")
    assert ledger.get_account("player").balance.posted == 500


def test_unit_redefinition_with_other_exponent_is_refused(ledger: Ledger) -> None:
    """A unit's exponent is fixed once defined; the same definition again is a no-op."""
    ledger.define_unit("CREDITS", 2)
    ledger.define_unit("CREDITS", 2)
    with pytest.raises(AlreadyExists):
        ledger.define_unit("CREDITS", 3)


def test_units_cannot_shadow_iso(ledger: Ledger) -> None:
    """An ISO 4217 code cannot be redefined as a unit."""
    with pytest.raises(ValidationError):
        ledger.define_unit("USD", 0)
