"""The baseline: the least a ledger can do per transfer, written by hand in SQL.

Per transfer: lock the two balance rows, add the amount to the source's debits
and the destination's credits, insert one journal row. ``per_commit`` transfers
share a database transaction (1, or 100 for the batched baseline); each caller
is a thread with its own connection. No balance check, no idempotency, no hash
chain, no outbox: the distance between this and Strongroom is the price of
everything Strongroom does besides.

PostgreSQL through psycopg at READ COMMITTED (its default) with
``synchronous_commit=on``, locking the rows with ``SELECT ... FOR UPDATE`` in id
order; SQLite through the standard library's ``sqlite3`` in WAL mode with
``synchronous=FULL`` (the same durability as Strongroom), every transaction
``BEGIN IMMEDIATE``. The tables (``baseline_*``) live in the scenario's own
fresh database, beside Strongroom's, made once for the baselines of a trial.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg

from strongroom.bench.databases import Database
from strongroom.bench.measure import Measurement, Op, Turns
from strongroom.bench.workload import every_account, pairs

SQLITE_BUSY_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Baseline:
    """Which baseline: callers, transfers per commit, and the scenario's pattern."""

    callers: int = 1
    per_commit: int = 1
    pattern: str = "uniform"

    @property
    def label(self) -> str:
        how = "per-commit" if self.per_commit == 1 else f"batched {self.per_commit}/commit"
        hot = ", hot" if self.pattern == "hot" else ""
        return f"SQL {how} x{self.callers}{hot}"


PER_COMMIT_1 = Baseline(callers=1)
PER_COMMIT_8 = Baseline(callers=8)
PER_COMMIT_8_HOT = Baseline(callers=8, pattern="hot")
BATCHED_100 = Baseline(callers=1, per_commit=100)


def set_up_baseline(db: Database, accounts: int) -> None:
    """Create the baselines' tables in ``db`` (anew), every account's balance at zero.

    The baselines of one trial share them, as Strongroom's rows share its tables.
    """
    set_up = _set_up_sqlite if db.backend == "sqlite" else _set_up_postgresql
    set_up(db, accounts)


@contextmanager
def open_baseline(db: Database, spec: Baseline, accounts: int) -> Iterator[Turns]:
    """The baseline ``spec`` on the tables :func:`set_up_baseline` made in ``db``, as a
    side measured in turns.

    Each caller's connection is opened here and stays open across the turns.
    """
    session = _sqlite_session if db.backend == "sqlite" else _postgresql_session
    with ExitStack() as stack:
        ops = [
            stack.enter_context(session(db, spec, accounts, number))
            for number in range(spec.callers)
        ]
        side = _BaselineTurns(spec, ops)
        yield side


class _BaselineTurns(Turns):
    """A baseline's turns; its measurement says how many transfers each commit held."""

    def __init__(self, spec: Baseline, ops: list[Op]) -> None:
        super().__init__(spec.label, ops, units_per_call=spec.per_commit)
        self.spec = spec

    def measurement(self) -> Measurement:
        measured = super().measurement()
        measured.extra["per_commit"] = self.spec.per_commit
        measured.extra["pattern"] = self.spec.pattern
        return measured


# -- SQLite --------------------------------------------------------------------------------


def _sqlite_connect(db: Database) -> sqlite3.Connection:
    assert db.sqlite_path is not None
    conn = sqlite3.connect(
        db.sqlite_path,
        isolation_level=None,
        timeout=SQLITE_BUSY_TIMEOUT_S,
        check_same_thread=False,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _set_up_sqlite(db: Database, accounts: int) -> None:
    conn = _sqlite_connect(db)
    try:
        conn.execute("DROP TABLE IF EXISTS baseline_balances")
        conn.execute("DROP TABLE IF EXISTS baseline_entries")
        conn.execute(
            "CREATE TABLE baseline_balances ("
            " id TEXT PRIMARY KEY, debits INTEGER NOT NULL, credits INTEGER NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE baseline_entries ("
            " id INTEGER PRIMARY KEY, debit TEXT NOT NULL, credit TEXT NOT NULL,"
            " amount INTEGER NOT NULL)"
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO baseline_balances VALUES (?, 0, 0)",
            [(account,) for account in every_account(accounts)],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


@contextmanager
def _sqlite_session(db: Database, spec: Baseline, accounts: int, worker: int) -> Iterator[Op]:
    conn = _sqlite_connect(db)
    pick = pairs(spec.pattern, accounts, worker)

    def op(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for k in range(spec.per_commit):
                source, destination = pick(i * spec.per_commit + k)
                conn.execute(
                    "UPDATE baseline_balances SET debits = debits + 1 WHERE id = ?", (source,)
                )
                conn.execute(
                    "UPDATE baseline_balances SET credits = credits + 1 WHERE id = ?",
                    (destination,),
                )
                conn.execute(
                    "INSERT INTO baseline_entries (debit, credit, amount) VALUES (?, ?, 1)",
                    (source, destination),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    try:
        yield op
    finally:
        conn.close()


# -- PostgreSQL ----------------------------------------------------------------------------


def _set_up_postgresql(db: Database, accounts: int) -> None:
    with psycopg.connect(db.url) as conn:
        conn.execute("DROP TABLE IF EXISTS baseline_balances, baseline_entries")
        conn.execute(
            "CREATE TABLE baseline_balances ("
            " id TEXT PRIMARY KEY, debits BIGINT NOT NULL, credits BIGINT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE baseline_entries ("
            " id BIGSERIAL PRIMARY KEY, debit TEXT NOT NULL, credit TEXT NOT NULL,"
            " amount BIGINT NOT NULL)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO baseline_balances VALUES (%s, 0, 0)",
                [(account,) for account in every_account(accounts)],
            )


@contextmanager
def _postgresql_session(db: Database, spec: Baseline, accounts: int, worker: int) -> Iterator[Op]:
    pick = pairs(spec.pattern, accounts, worker)
    with psycopg.connect(db.url, options="-c synchronous_commit=on") as conn:

        def one(i: int) -> None:
            source, destination = pick(i)
            with conn.transaction():
                conn.execute(
                    "SELECT id FROM baseline_balances WHERE id IN (%s, %s) ORDER BY id FOR UPDATE",
                    (source, destination),
                )
                conn.execute(
                    "UPDATE baseline_balances SET debits = debits + 1 WHERE id = %s", (source,)
                )
                conn.execute(
                    "UPDATE baseline_balances SET credits = credits + 1 WHERE id = %s",
                    (destination,),
                )
                conn.execute(
                    "INSERT INTO baseline_entries (debit, credit, amount) VALUES (%s, %s, 1)",
                    (source, destination),
                )

        def batched(i: int) -> None:
            # As a careful hand-written batch would: every row locked once, in id
            # order; one update per account; the statements pipelined (executemany).
            moves = [pick(i * spec.per_commit + k) for k in range(spec.per_commit)]
            debits: dict[str, int] = {}
            credits: dict[str, int] = {}
            for source, destination in moves:
                debits[source] = debits.get(source, 0) + 1
                credits[destination] = credits.get(destination, 0) + 1
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SELECT id FROM baseline_balances WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                    (sorted(debits.keys() | credits.keys()),),
                )
                cur.executemany(
                    "UPDATE baseline_balances SET debits = debits + %s, credits = credits + %s"
                    " WHERE id = %s",
                    [
                        (debits.get(a, 0), credits.get(a, 0), a)
                        for a in sorted(debits.keys() | credits.keys())
                    ],
                )
                cur.executemany(
                    "INSERT INTO baseline_entries (debit, credit, amount) VALUES (%s, %s, 1)",
                    moves,
                )

        yield one if spec.per_commit == 1 else batched
