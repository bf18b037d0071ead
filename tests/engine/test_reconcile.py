"""Reconciliation: stored running sums against a replay of the journal, and the rebuild."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from strongroom import InvalidState, Ledger
from strongroom.store.schema import accounts, journal
from tests.engine.test_tamper import books, tampering

__all__ = ["books"]  # the fixture, imported for these tests


def _credit_behind_the_engines_back(ledger: Ledger, account: str, amount: int) -> None:
    with ledger.engine.begin() as conn:  # no trigger guards the running sums
        conn.execute(
            update(accounts)
            .where(accounts.c.tenant_id == ledger.tenant, accounts.c.id == account)
            .values(posted_credits=accounts.c.posted_credits + amount)
        )


def test_untouched_books_have_no_drift(books: Ledger) -> None:
    """Books written through the engine reconcile: ok, nothing drifted, nothing rebuilt."""
    report = books.reconcile()
    assert (report.ok, report.drift, report.rebuilt, report.chain_ok) == (True, [], False, True)


def test_drift_names_exactly_the_changed_account(books: Ledger) -> None:
    """A running sum changed with SQL is reported for that account alone, stored vs replayed."""
    before = books.get_account("shop").sums
    _credit_behind_the_engines_back(books, "shop", 7)
    report = books.reconcile()
    assert not report.ok
    assert [d.account for d in report.drift] == ["shop"]
    assert report.drift[0].replayed == before
    assert report.drift[0].stored.posted_credits == before.posted_credits + 7
    assert books.get_account("shop").sums.posted_credits == before.posted_credits + 7


def test_rebuild_restores_the_replayed_sums(books: Ledger) -> None:
    """rebuild=True writes the replayed sums back; verify is ok again and so is a reconcile."""
    before = books.get_account("shop")
    _credit_behind_the_engines_back(books, "shop", 7)
    _credit_behind_the_engines_back(books, "user:1", 1)
    report = books.reconcile(rebuild=True)
    assert (report.ok, report.rebuilt) == (True, True)
    assert sorted(d.account for d in report.drift) == ["shop", "user:1"]
    after = books.get_account("shop")
    assert after.sums == before.sums
    assert after.version == before.version + 1  # the visible state changed: a new version
    assert books.verify().ok
    assert books.reconcile().drift == []


def test_rebuild_without_drift_changes_nothing(books: Ledger) -> None:
    """A rebuild of books that match their journal writes nothing."""
    before = books.get_account("shop")
    report = books.reconcile(rebuild=True)
    assert (report.ok, report.rebuilt) == (True, False)
    assert books.get_account("shop") == before


def test_rebuild_is_refused_while_the_chain_is_broken(books: Ledger) -> None:
    """With an altered journal the rebuild raises INVALID_STATE and leaves the drift as it is."""
    _credit_behind_the_engines_back(books, "shop", 7)
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == 3)
            .values(description="rewritten")
        )
    with pytest.raises(InvalidState):
        books.reconcile(rebuild=True)
    report = books.reconcile()
    assert (report.chain_ok, report.first_bad_seq) == (False, 3)
    assert [d.account for d in report.drift] == ["shop"]


def test_writes_after_a_rebuild_build_on_the_restored_sums(books: Ledger) -> None:
    """After a rebuild the engine keeps writing from the restored sums, and the books verify."""
    posted = books.get_account("user:1").balance.posted
    _credit_behind_the_engines_back(books, "user:1", 1_000_000)
    books.reconcile(rebuild=True)
    books.transfer("user:1", "shop", 1, "USD")
    assert books.verify().ok
    assert books.get_account("user:1").balance.posted == posted - 1


def test_a_rebuild_racing_writers_never_leaves_stale_sums(books: Ledger) -> None:
    """Rebuilds under the head lock while threads transfer: no write is lost, no drift is made."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(source: str, target: str) -> None:
        try:
            for _ in range(40):
                books.transfer(source, target, 1, "USD")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def rebuild() -> None:
        try:
            while not stop.wait(0.005):  # a pause lets SQLite's single writer lock rotate
                books.reconcile(rebuild=True)
        except BaseException as exc:
            errors.append(exc)

    books.transfer("@world", "user:2", 100, "USD")
    writers = [
        threading.Thread(target=write, args=pair)
        for pair in (("@world", "user:1"), ("user:2", "shop"), ("@world", "fees"))
    ]
    rebuilder = threading.Thread(target=rebuild)
    rebuilder.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    rebuilder.join(timeout=120)
    assert errors == []
    report = books.verify()
    assert (report.ok, report.drift) == (True, [])
    assert books.get_account("fees").balance.posted == 20 + 40
