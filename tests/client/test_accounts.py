"""Accounts through the client: the library's methods and types over HTTP."""

from __future__ import annotations

import pytest

from strongroom import Account, AccountStatus, Balance, Ledger, Side, Sums
from strongroom.client import Client


def test_create_account_returns_an_account(client: Client) -> None:
    """create_account returns the new Account with a zero balance."""
    account = client.create_account("user:1", currency="USD", metadata={"tier": "gold"})
    assert isinstance(account, Account)
    assert (account.id, account.currency, account.normal_balance) == ("user:1", "USD", Side.CREDIT)
    assert account.metadata == {"tier": "gold"}
    assert account.balance == Balance(0, 0, 0, 0)


def test_create_account_without_id_gets_one(client: Client) -> None:
    """An account created without an id gets one from the server."""
    account = client.create_account(currency="USD")
    assert client.get_account(account.id).id == account.id


def test_get_account_matches_the_library(books: Client, library: Ledger) -> None:
    """get_account returns what the library's get_account returns, balance included."""
    books.transfer("@world", "user:1", 700, "USD")
    over_http, local = books.get_account("user:1"), library.get_account("user:1")
    assert over_http.balance == local.balance
    assert (over_http.id, over_http.status, over_http.version, over_http.created_at) == (
        local.id,
        local.status,
        local.version,
        local.created_at,
    )


@pytest.mark.parametrize(
    ("normal", "posted", "sums"),
    [
        ("credit", 300, Sums(0, 300, 0, 0)),
        ("credit", -300, Sums(300, 0, 0, 0)),
        ("debit", 300, Sums(300, 0, 0, 0)),
        ("debit", -300, Sums(0, 300, 0, 0)),
    ],
    ids=["credit-positive", "credit-negative", "debit-positive", "debit-negative"],
)
def test_synthesized_sums_reproduce_the_balance(
    client: Client, normal: str, posted: int, sums: Sums
) -> None:
    """An account's synthesized sums put the posted balance on the side that yields it."""
    client.create_account("a", currency="USD", normal_balance=normal, overdraft_limit=None)
    client.create_account("b", currency="USD", normal_balance=normal, overdraft_limit=None)
    source, destination = ("b", "a") if (posted > 0) == (normal == "credit") else ("a", "b")
    client.transfer(source, destination, 300, "USD")
    account = client.get_account("a")
    assert account.sums == sums
    assert account.balance.posted == posted


def test_synthesized_sums_keep_pending_amounts(books: Client, library: Ledger) -> None:
    """With a hold open, the client's balance (available included) equals the library's."""
    books.transfer("@world", "user:1", 1000, "USD")
    books.transfer("user:1", "shop", 300, "USD", pending=True)
    assert books.get_account("user:1").balance == library.get_account("user:1").balance
    assert books.get_account("shop").balance == library.get_account("shop").balance


def test_update_account_changes_status(books: Client) -> None:
    """update_account freezes an account."""
    assert books.update_account("user:1", status="frozen").status is AccountStatus.FROZEN


def test_update_account_sets_an_unlimited_overdraft(books: Client) -> None:
    """update_account(overdraft_limit=None) makes the overdraft unlimited."""
    assert books.update_account("user:1", overdraft_limit=None).overdraft_limit is None


def test_update_account_keeps_the_overdraft_unless_given(client: Client) -> None:
    """update_account without overdraft_limit leaves the limit as it was."""
    client.create_account("user:1", currency="USD", overdraft_limit=50)
    assert client.update_account("user:1", metadata={"k": "v"}).overdraft_limit == 50


def test_list_accounts_pages_through_all(books: Client) -> None:
    """list_accounts pages with limit and cursor, in id order."""
    first = books.list_accounts(limit=2)
    second = books.list_accounts(limit=2, cursor=first.next_cursor)
    assert [a.id for a in first.data + second.data] == ["@world", "shop", "user:1"]
    assert second.next_cursor is None


def test_list_accounts_filters_by_prefix(books: Client) -> None:
    """list_accounts(prefix=) returns only the ids that start with it."""
    assert [a.id for a in books.list_accounts(prefix="user:").data] == ["user:1"]
