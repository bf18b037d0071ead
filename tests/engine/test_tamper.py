"""Tampering with the stored journal, as an attacker with database rights would.

Each test builds the same small ledger through the engine, checks that it
verifies, then changes the database directly with SQL (disabling the
append-only triggers first) and checks that ``verify`` names the first broken
sequence, or the account whose running sums drifted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Insert, Table, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from strongroom import Ledger, Line
from strongroom.cli import app
from strongroom.store.schema import accounts, journal, journal_postings

APPEND_ONLY_TRIGGERS = (
    "journal_no_update",
    "journal_no_delete",
    "journal_postings_no_update",
    "journal_postings_no_delete",
)
LAST = 11
"""The sequence of the last entry that ``books`` writes."""


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    """Eleven journal entries: transfers, a multi-line sale, holds, a void, a reversal."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    for account in ("user:1", "user:2", "shop", "fees"):
        ledger.create_account(account, currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD", description="deposit 1")  # 1
    ledger.transfer("@world", "user:2", 500, "USD", description="deposit 2")  # 2
    bought = ledger.transfer("user:1", "shop", 100, "USD", description="purchase")  # 3
    ledger.post(  # 4
        [Line("user:2", "debit", 70), Line("shop", "credit", 50), Line("fees", "credit", 20)],
        currency="USD",
        description="sale with a fee",
    )
    hold = ledger.transfer("user:1", "shop", 300, "USD", pending=True, timeout_seconds=60)  # 5
    ledger.post_pending(hold.id, amount=250)  # 6
    other = ledger.transfer("user:2", "shop", 100, "USD", pending=True)  # 7
    ledger.void_pending(other.id)  # 8
    ledger.transfer("user:2", "user:1", 30, "USD", description="gift")  # 9
    ledger.reverse(bought.id)  # 10
    ledger.transfer("user:1", "shop", 5, "USD", description="tip")  # 11
    assert ledger.head()[0] == LAST
    return ledger


@contextmanager
def tampering(ledger: Ledger) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire."""
    with ledger.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Disables ordinary and constraint triggers, for this transaction only.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in APPEND_ONLY_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {trigger}"))
        yield conn


def _entry(conn: Connection, tenant: str, seq: int) -> dict[str, object]:
    row = conn.execute(
        select(journal).where(journal.c.tenant_id == tenant, journal.c.seq == seq)
    ).one()
    return {k: v for k, v in row._asdict().items() if k not in ("tenant_id", "seq")}


def _renumber(conn: Connection, tenant: str, old: int, new: int) -> None:
    for table in (journal, journal_postings):
        conn.execute(
            update(table).where(table.c.tenant_id == tenant, table.c.seq == old).values(seq=new)
        )


def _delete_entry(conn: Connection, tenant: str, seq: int) -> None:
    for table in (journal_postings, journal):
        conn.execute(delete(table).where(table.c.tenant_id == tenant, table.c.seq == seq))


def _count(ledger: Ledger, table: Table) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_untouched_ledger_verifies(books: Ledger) -> None:
    """The ledger built through the engine verifies: chain intact, no drift."""
    report = books.verify()
    assert report.ok
    assert (report.checked, report.first_bad_seq, report.drift) == (LAST, None, [])


@pytest.mark.parametrize("seq", [1, 6, LAST], ids=["first", "partial-post", "last"])
def test_changed_amount_breaks_the_chain_at_its_entry(books: Ledger, seq: int) -> None:
    """Raising a posting's amount makes verify name that posting's sequence."""
    with tampering(books) as conn:
        conn.execute(
            update(journal_postings)
            .where(
                journal_postings.c.tenant_id == books.tenant,
                journal_postings.c.seq == seq,
                journal_postings.c.idx == 0,
            )
            .values(amount=journal_postings.c.amount + 1)
        )
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == seq


@pytest.mark.parametrize("seq", [1, 8, LAST], ids=["first", "void", "last"])
def test_changed_description_breaks_the_chain_at_its_entry(books: Ledger, seq: int) -> None:
    """Rewriting an entry's description makes verify name that entry's sequence."""
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == seq)
            .values(description="nothing to see here")
        )
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == seq
    assert report.balances_ok  # only the text changed, not the money


@pytest.mark.parametrize("seq", [2, 6], ids=["deposit", "partial-post"])
def test_deleted_entry_breaks_the_chain_at_the_gap(books: Ledger, seq: int) -> None:
    """Removing an entry from the middle makes verify name the missing sequence."""
    with tampering(books) as conn:
        _delete_entry(conn, books.tenant, seq)
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == seq


def test_deleted_last_entry_is_detected_against_the_head(books: Ledger) -> None:
    """Removing the newest entry makes verify name its sequence (the head still points at it)."""
    with tampering(books) as conn:
        _delete_entry(conn, books.tenant, LAST)
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == LAST


def test_swapped_entry_contents_break_the_chain_at_the_first(books: Ledger) -> None:
    """Exchanging the contents of entries 3 and 5 makes verify name sequence 3."""
    with tampering(books) as conn:
        third, fifth = _entry(conn, books.tenant, 3), _entry(conn, books.tenant, 5)
        for seq, values in ((3, fifth), (5, third)):
            conn.execute(
                update(journal)
                .where(journal.c.tenant_id == books.tenant, journal.c.seq == seq)
                .values(**values)
            )
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == 3


def test_swapped_sequence_numbers_break_the_chain_at_the_first(books: Ledger) -> None:
    """Renumbering entries 3 and 5 (with their postings) into each other's place names 3."""
    with tampering(books) as conn:
        _renumber(conn, books.tenant, 3, 1_000_000)
        _renumber(conn, books.tenant, 5, 3)
        _renumber(conn, books.tenant, 1_000_000, 5)
    report = books.verify()
    assert not report.ok
    assert report.first_bad_seq == 3


def test_changed_running_sum_is_reported_as_drift(books: Ledger) -> None:
    """Crediting an account behind the engine's back is drift, with the chain intact."""
    with books.engine.begin() as conn:  # no trigger guards the running sums
        conn.execute(
            update(accounts)
            .where(accounts.c.tenant_id == books.tenant, accounts.c.id == "user:2")
            .values(posted_credits=accounts.c.posted_credits + 1_000_000)
        )
    report = books.verify()
    assert not report.ok
    assert not report.balances_ok
    assert report.first_bad_seq is None
    assert [d.account for d in report.drift] == ["user:2"]
    drift = report.drift[0]
    assert drift.stored.posted_credits - drift.replayed.posted_credits == 1_000_000


@pytest.mark.parametrize("table", [journal, journal_postings], ids=lambda t: t.name)
def test_update_is_refused_by_the_database(books: Ledger, table: Table) -> None:
    """Without disabling the triggers, UPDATE of an append-only table fails."""
    column = journal.c.description if table is journal else journal_postings.c.amount
    value: object = "rewritten" if table is journal else 1
    with pytest.raises(DBAPIError, match="append-only"), books.engine.begin() as conn:
        conn.execute(
            update(table).where(table.c.tenant_id == books.tenant).values({column.name: value})
        )
    assert books.verify().ok


@pytest.mark.parametrize("table", [journal, journal_postings], ids=lambda t: t.name)
def test_delete_is_refused_by_the_database(books: Ledger, table: Table) -> None:
    """Without disabling the triggers, DELETE from an append-only table fails."""
    with pytest.raises(DBAPIError, match="append-only"), books.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.tenant_id == books.tenant, table.c.seq == 2))
    assert books.verify().ok


UNBALANCED_POSTINGS = {
    "debits-exceed-credits": [("user:1", "debit", 100), ("shop", "credit", 99)],
    "single-posting": [("shop", "credit", 100)],
    "no-postings": [],
}
REFUSAL = {
    "debits-exceed-credits": r"is unbalanced \(post: debits 100, credits 99\)",
    "single-posting": "has fewer than two postings",
    "no-postings": "has fewer than two postings",
}


def _forged_posting(
    tenant: str, seq: int, idx: int, account: str, side: str, amount: int
) -> Insert:
    """A posting row written behind the engine's back (running sums left at 0)."""
    return insert(journal_postings).values(
        tenant_id=tenant,
        seq=seq,
        idx=idx,
        account_id=account,
        side=side,
        amount=amount,
        effect="post",
        posted_debits_after=0,
        posted_credits_after=0,
        pending_debits_after=0,
        pending_credits_after=0,
    )


@pytest.mark.postgresql_only
@pytest.mark.parametrize("case", list(UNBALANCED_POSTINGS))
def test_unbalanced_entry_is_refused_at_commit(books: Ledger, case: str) -> None:
    """An unbalanced entry inserted behind the engine's back fails at COMMIT; nothing stays."""
    postings = UNBALANCED_POSTINGS[case]
    before = (_count(books, journal), _count(books, journal_postings))
    with books.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(
            insert(journal).values(
                tenant_id=books.tenant,
                seq=LAST + 1,
                transaction_id="tx_forged",
                type="posted",
                currency="USD",
                description="forged",
                metadata="{}",
                created_at=books.clock.now(),
                hash="f" * 64,
            )
        )
        for idx, (account, side, amount) in enumerate(postings):
            conn.execute(_forged_posting(books.tenant, LAST + 1, idx, account, side, amount))
        with pytest.raises(IntegrityError, match="strongroom: journal entry .*" + REFUSAL[case]):
            trans.commit()
    assert (_count(books, journal), _count(books, journal_postings)) == before
    assert books.verify().ok


@pytest.mark.postgresql_only
def test_postings_without_an_entry_are_refused_at_commit(books: Ledger) -> None:
    """Balanced postings under a seq that has no journal entry fail at COMMIT."""
    before = _count(books, journal_postings)
    with books.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(_forged_posting(books.tenant, LAST + 5, 0, "user:1", "debit", 7))
        conn.execute(_forged_posting(books.tenant, LAST + 5, 1, "shop", "credit", 7))
        with pytest.raises(IntegrityError, match="have no journal entry"):
            trans.commit()
    assert _count(books, journal_postings) == before


@pytest.mark.postgresql_only
def test_a_posting_added_to_a_committed_entry_is_refused_at_commit(books: Ledger) -> None:
    """A later transaction that adds a posting to an existing entry is checked in full."""
    before = _count(books, journal_postings)
    with books.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(_forged_posting(books.tenant, LAST, 99, "alice", "debit", 1))
        with pytest.raises(IntegrityError, match="strongroom: journal entry"):
            trans.commit()
    assert _count(books, journal_postings) == before


def test_cli_verify_exits_zero_on_an_intact_ledger(books: Ledger, db_url: str) -> None:
    """`strongroom verify` exits 0 and says ok when nothing was tampered with."""
    result = CliRunner().invoke(app, ["verify", "--database-url", db_url, "--tenant", "t1"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_cli_verify_exits_one_naming_the_first_bad_seq(books: Ledger, db_url: str) -> None:
    """`strongroom verify` exits 1 and names the first broken sequence after tampering."""
    with tampering(books) as conn:
        _delete_entry(conn, books.tenant, 4)
    result = CliRunner().invoke(app, ["verify", "--database-url", db_url, "--tenant", "t1"])
    assert result.exit_code == 1, result.output
    assert "chain broken at seq 4" in result.output


def test_cli_verify_json_reports_the_first_bad_seq(books: Ledger, db_url: str) -> None:
    """`strongroom verify --json` reports ok false and first_bad_seq after tampering."""
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == 7)
            .values(description="edited")
        )
    args = ["verify", "--database-url", db_url, "--tenant", "t1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_bad_seq"]) == (False, 7)
