"""The chain head and verification through the client."""

from __future__ import annotations

from strongroom import Ledger
from strongroom.client import Client, VerifyResult


def test_head_is_the_last_link(books: Client, library: Ledger) -> None:
    """head returns (seq, hash) of the last transaction, as the library does."""
    tx = books.transfer("@world", "user:1", 100, "USD")
    assert books.head() == (tx.seq, tx.hash) == library.head()


def test_verify_reports_an_intact_ledger(books: Client) -> None:
    """verify returns ok with every entry checked and no drift."""
    books.transfer("@world", "user:1", 100, "USD")
    report = books.verify()
    assert report == VerifyResult(
        ok=True, checked=1, first_bad_seq=None, balances_ok=True, drift=[]
    )
