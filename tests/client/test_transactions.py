"""Transfers, transactions, holds, reversals and the reads of them, through the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from strongroom import Balance, Ledger, Line, StatementLine, Transaction, TxStatus
from strongroom.client import Client


def test_transfer_returns_the_transaction_with_balances(books: Client) -> None:
    """transfer returns a posted Transaction with the balances of both accounts."""
    tx = books.transfer("@world", "user:1", 1000, "USD", kind="deposit", metadata={"ref": "x"})
    assert isinstance(tx, Transaction)
    assert (tx.status, tx.amount, tx.kind, tx.metadata) == (
        TxStatus.POSTED,
        1000,
        "deposit",
        {"ref": "x"},
    )
    assert tx.balances["user:1"] == Balance(1000, 0, 0, 1000)


def test_get_transaction_matches_the_library(books: Client, library: Ledger) -> None:
    """get_transaction returns a Transaction equal to the library's."""
    tx = books.transfer("@world", "user:1", 1000, "USD", description="deposit")
    assert books.get_transaction(tx.id) == library.get_transaction(tx.id)


def test_post_takes_lines(books: Client) -> None:
    """post applies a multi-line transaction given as Line objects and mappings."""
    books.transfer("@world", "user:1", 100, "USD")
    lines: list[Line | dict[str, Any]] = [
        Line("user:1", "debit", 70),
        {"account": "shop", "side": "credit", "amount": 50},
        Line("@world", "credit", 20),
    ]
    tx = books.post(lines, currency="USD")
    assert tx.lines == (
        Line("user:1", "debit", 70),
        Line("shop", "credit", 50),
        Line("@world", "credit", 20),
    )
    assert books.balance("user:1").posted == 30


def test_post_pending_posts_part_of_a_hold(books: Client) -> None:
    """post_pending(amount=) posts part of a hold and releases the rest."""
    books.transfer("@world", "user:1", 1000, "USD")
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True, timeout_seconds=60)
    assert hold.status is TxStatus.PENDING
    posted = books.post_pending(hold.id, amount=250)
    assert (posted.status, posted.pending_amount_posted) == (TxStatus.POSTED, 250)
    assert books.balance("user:1") == Balance(750, 0, 0, 750)


def test_post_pending_posts_a_whole_hold(books: Client) -> None:
    """post_pending without an amount posts all of the hold."""
    books.transfer("@world", "user:1", 1000, "USD")
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    books.post_pending(hold.id)
    assert books.balance("shop").posted == 300


def test_void_pending_releases_a_hold(books: Client) -> None:
    """void_pending releases the hold: the available balance is whole again."""
    books.transfer("@world", "user:1", 1000, "USD")
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    assert books.void_pending(hold.id).status is TxStatus.VOIDED
    assert books.balance("user:1") == Balance(1000, 0, 0, 1000)


def test_reverse_swaps_the_lines(books: Client) -> None:
    """reverse posts a new transaction that undoes the original and names it."""
    tx = books.transfer("@world", "user:1", 400, "USD")
    reversal = books.reverse(tx.id, description="refund")
    assert (reversal.reverses, reversal.description) == (tx.id, "refund")
    assert books.balance("user:1").posted == 0


def test_balance_at_a_past_time(books: Client) -> None:
    """balance(at=) returns the balance as it stood then."""
    first = books.transfer("@world", "user:1", 100, "USD")
    books.transfer("@world", "user:1", 50, "USD")
    assert books.balance("user:1", at=first.created_at).posted == 100
    assert books.balance("user:1", at=first.created_at - timedelta(seconds=1)).posted == 0


def test_statement_pages_with_balances_after(books: Client, library: Ledger) -> None:
    """statement pages the posted lines in order, equal to the library's statement."""
    for amount in (100, 200, 300):
        books.transfer("@world", "user:1", amount, "USD")
    first = books.statement("user:1", limit=2)
    second = books.statement("user:1", limit=2, cursor=first.next_cursor)
    lines = first.data + second.data
    assert all(isinstance(line, StatementLine) for line in lines)
    assert [line.balance_after for line in lines] == [100, 300, 600]
    assert lines == library.statement("user:1").data


def test_statement_between_times(books: Client) -> None:
    """statement(start=, end=) keeps the lines posted in that window."""
    books.transfer("@world", "user:1", 100, "USD")
    later = books.transfer("@world", "user:1", 200, "USD")
    window = books.statement("user:1", start=later.created_at, end=datetime.now(UTC))
    assert [line.transaction_id for line in window.data] == [later.id]


def test_list_transactions_filters_and_pages(books: Client, library: Ledger) -> None:
    """list_transactions filters by account and kind and pages like the library."""
    books.transfer("@world", "user:1", 100, "USD", kind="deposit")
    books.transfer("@world", "shop", 100, "USD", kind="deposit")
    books.transfer("user:1", "shop", 10, "USD", kind="sale")
    first = books.list_transactions(account="user:1", limit=1)
    second = books.list_transactions(account="user:1", limit=1, cursor=first.next_cursor)
    assert first.data + second.data == library.list_transactions(account="user:1").data
    assert [tx.kind for tx in books.list_transactions(kind="sale").data] == ["sale"]
