"""Tampering with the transactions table: verify checks it against the journal too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, insert, select, text, update

from strongroom import Ledger
from strongroom.store.schema import transactions


@contextmanager
def raw(ledger: Ledger) -> Iterator[Connection]:
    """A direct connection; ``transactions`` has no append-only trigger to disable."""
    with ledger.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD")  # seq 1
    voided = ledger.transfer("user:1", "shop", 300, "USD", pending=True)  # seq 2
    ledger.void_pending(voided.id)  # seq 3
    posted = ledger.transfer("user:1", "shop", 200, "USD", pending=True)  # seq 4
    ledger.post_pending(posted.id, amount=150)  # seq 5
    ledger.transfer("user:1", "shop", 10, "USD", description="coffee")  # seq 6
    ledger.transfer("user:1", "shop", 20, "USD", pending=True)  # seq 7, still open
    assert ledger.verify().ok
    return ledger


def _set(ledger: Ledger, seq: int, **values: object) -> None:
    with raw(ledger) as conn:
        conn.execute(
            update(transactions)
            .where(transactions.c.tenant_id == ledger.tenant, transactions.c.seq == seq)
            .values(**values)
        )


def test_voided_hold_forged_back_to_pending(books: Ledger) -> None:
    """A voided hold set back to pending is caught at the void that ended it."""
    _set(books, 2, status="pending", finished_seq=None)
    assert books.verify().first_bad_seq == 3


def test_posted_amount_forged(books: Ledger) -> None:
    """Changing how much of a hold was posted is caught at the posting entry."""
    _set(books, 4, pending_amount_posted=200)
    assert books.verify().first_bad_seq == 5


def test_description_forged(books: Ledger) -> None:
    """A transaction's text differing from its journal entry is caught at that entry."""
    _set(books, 6, description="tea")
    assert books.verify().first_bad_seq == 6


def test_open_hold_forged_as_posted(books: Ledger) -> None:
    """A pending hold marked posted with no entry that posted it is caught at the hold."""
    _set(books, 7, status="posted")
    assert books.verify().first_bad_seq == 7


def test_transaction_without_entry(books: Ledger) -> None:
    """A transaction row that no journal entry created is caught at its seq."""
    with raw(books) as conn:
        row = dict(
            conn.execute(
                select(transactions).where(
                    transactions.c.tenant_id == books.tenant, transactions.c.seq == 6
                )
            )
            .one()
            ._mapping
        )
        row.update(id="tx_forged", seq=99)
        conn.execute(insert(transactions).values(**row))
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == 99
