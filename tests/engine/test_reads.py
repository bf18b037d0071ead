"""Reads: statements with running balances, balances in the past, lists and cursors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from strongroom import Ledger, NotFound, ValidationError
from strongroom.testing import FakeClock


@pytest.fixture
def books(ledger: Ledger, clock: FakeClock) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    for i in range(5):
        ledger.transfer("@world", "user:1", 100, "USD", description=f"deposit {i}", kind="deposit")
        clock.advance(60)
    return ledger


def test_statement_has_running_balance(books: Ledger) -> None:
    """Each statement line carries the account's posted balance right after it."""
    books.transfer("user:1", "shop", 30, "USD", description="coffee")
    lines = books.statement("user:1").data
    assert [line.balance_after for line in lines] == [100, 200, 300, 400, 500, 470]
    assert lines[-1].side == "debit"
    assert lines[-1].description == "coffee"


def test_statement_pages_follow_the_cursor(books: Ledger) -> None:
    """Paging with limit and cursor yields every line once, in sequence order."""
    seen = []
    cursor = None
    while True:
        page = books.statement("user:1", limit=2, cursor=cursor)
        seen.extend(line.seq for line in page.data)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5]


def test_statement_leaves_out_holds_until_posted(books: Ledger) -> None:
    """Pending holds do not appear on a statement; their posting does."""
    hold = books.transfer("user:1", "shop", 50, "USD", pending=True)
    assert len(books.statement("user:1").data) == 5
    books.post_pending(hold.id, amount=20)
    last = books.statement("user:1").data[-1]
    assert (last.amount, last.balance_after, last.transaction_id) == (20, 480, hold.id)


def test_statement_time_window(books: Ledger, clock: FakeClock) -> None:
    """from/to select lines posted in [from, to)."""
    start = books.get_transaction(books.list_transactions().data[1].id).created_at
    end = start + timedelta(seconds=120)
    lines = books.statement("user:1", start=start, end=end).data
    assert [line.seq for line in lines] == [2, 3]


def test_balance_at_a_past_time(books: Ledger) -> None:
    """balance(at=...) gives the balance as it stood then."""
    third = books.list_transactions().data[2]
    assert books.balance("user:1", at=third.created_at).posted == 300
    assert books.balance("user:1", at=third.created_at - timedelta(microseconds=1)).posted == 200
    assert books.balance("user:1").posted == 500


def test_balance_before_any_entry_is_zero(books: Ledger) -> None:
    """Before its first entry an account's balance is zero."""
    first = books.list_transactions().data[0]
    assert books.balance("user:1", at=first.created_at - timedelta(days=1)).posted == 0


def test_balance_at_needs_an_aware_time(books: Ledger) -> None:
    """A naive datetime is refused rather than guessed."""
    naive = books.list_transactions().data[0].created_at.replace(tzinfo=None)
    with pytest.raises(ValidationError):
        books.balance("user:1", at=naive)


def test_list_transactions_filters_by_account_and_kind(books: Ledger) -> None:
    """Transactions filter by an account they touch and by kind."""
    books.transfer("user:1", "shop", 10, "USD", kind="purchase")
    assert len(books.list_transactions(account="shop").data) == 1
    assert len(books.list_transactions(kind="deposit").data) == 5
    assert len(books.list_transactions(account="user:1").data) == 6


def test_list_accounts_by_prefix_with_cursor(books: Ledger) -> None:
    """Accounts list by id prefix, in id order, across pages."""
    for i in range(3):
        books.create_account(f"user:{i + 2}", currency="USD")
    first = books.list_accounts(prefix="user:", limit=2)
    second = books.list_accounts(prefix="user:", limit=2, cursor=first.next_cursor)
    ids = [a.id for a in first.data + second.data]
    assert ids == ["user:1", "user:2", "user:3", "user:4"]
    assert second.next_cursor is None


def test_prefix_matches_literally(books: Ledger) -> None:
    """LIKE wildcards in a prefix match only themselves."""
    books.create_account("a_b", currency="USD")
    books.create_account("axb", currency="USD")
    assert [a.id for a in books.list_accounts(prefix="a_").data] == ["a_b"]


@pytest.mark.parametrize("limit", [0, 1001, -1], ids=["zero", "too-big", "negative"])
def test_limit_out_of_range_is_refused(books: Ledger, limit: int) -> None:
    """Page sizes are 1 to 1000."""
    with pytest.raises(ValidationError):
        books.list_accounts(limit=limit)


def test_garbage_cursor_is_refused(books: Ledger) -> None:
    """A cursor that was not issued by the list is a validation error."""
    with pytest.raises(ValidationError):
        books.statement("user:1", cursor="not-a-cursor")
    other = books.list_accounts(limit=1).next_cursor
    with pytest.raises(ValidationError):
        books.statement("user:1", cursor=other)


def test_unknown_ids_are_not_found(books: Ledger) -> None:
    """Reads of missing accounts and transactions raise NOT_FOUND."""
    with pytest.raises(NotFound):
        books.get_account("nobody")
    with pytest.raises(NotFound):
        books.get_transaction("tx_missing")
    with pytest.raises(NotFound):
        books.statement("nobody")
