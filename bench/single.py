"""Transfers per second, one per call, one caller, beside a hand-written baseline.

    .venv/bin/python bench/single.py [--n 2000] [--backend sqlite|postgresql|all]

The baseline is the least a ledger can do per transfer: lock two balance rows,
update them, insert one journal row, commit. It runs in the same process, on
the same kind of database, right after Strongroom, so the ratio between the two
survives a noisy machine even when the absolute figures do not.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from strongroom import Ledger

PG_ADMIN = os.environ.get(
    "STRONGROOM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ACCOUNTS = 20

BASELINE_DDL = [
    "CREATE TABLE balances (id TEXT PRIMARY KEY, debits BIGINT NOT NULL, credits BIGINT NOT NULL)",
    "CREATE TABLE entries (id BIGINT PRIMARY KEY, debit TEXT, credit TEXT, amount BIGINT)",
]


def _rate(n: int, run: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for i in range(n):
        run(i)
    return n / (time.perf_counter() - start)


def strongroom_rate(url: str, n: int) -> float:
    with Ledger.open(url, tenant="bench") as ledger:
        ledger.create_account("@world", currency="USD", overdraft_limit=None)
        for a in range(ACCOUNTS):
            ledger.create_account(f"user:{a}", currency="USD")
            ledger.transfer("@world", f"user:{a}", 10**12, "USD")

        def one(i: int) -> None:
            src, dst = f"user:{i % ACCOUNTS}", f"user:{(i * 7 + 3) % ACCOUNTS}"
            if src == dst:
                dst = "@world"
            ledger.transfer(src, dst, 1, "USD", idempotency_key=f"b{i}")

        return _rate(n, one)


def sqlite_baseline(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for ddl in BASELINE_DDL:
        conn.execute(ddl)
    conn.executemany(
        "INSERT INTO balances VALUES (?, 0, 0)", [(f"user:{a}",) for a in range(ACCOUNTS)]
    )

    def one(i: int) -> None:
        src, dst = f"user:{i % ACCOUNTS}", f"user:{(i * 7 + 3) % ACCOUNTS}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE balances SET debits = debits + 1 WHERE id = ?", (src,))
        conn.execute("UPDATE balances SET credits = credits + 1 WHERE id = ?", (dst,))
        conn.execute("INSERT INTO entries VALUES (?, ?, ?, 1)", (i, src, dst))
        conn.execute("COMMIT")

    try:
        return _rate(n, one)
    finally:
        conn.close()


def pg_baseline(url: str, n: int) -> float:
    with psycopg.connect(url) as conn:
        for ddl in BASELINE_DDL:
            conn.execute(ddl)  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO balances VALUES (%s, 0, 0)", [(f"user:{a}",) for a in range(ACCOUNTS)]
            )
        conn.commit()

        def one(i: int) -> None:
            src, dst = f"user:{i % ACCOUNTS}", f"user:{(i * 7 + 3) % ACCOUNTS}"
            first, second = sorted({src, dst})
            conn.execute(
                "SELECT id FROM balances WHERE id IN (%s, %s) ORDER BY id FOR UPDATE",
                (first, second),
            )
            conn.execute("UPDATE balances SET debits = debits + 1 WHERE id = %s", (src,))
            conn.execute("UPDATE balances SET credits = credits + 1 WHERE id = %s", (dst,))
            conn.execute("INSERT INTO entries VALUES (%s, %s, %s, 1)", (i, src, dst))
            conn.commit()

        return _rate(n, one)


def _pg_database() -> tuple[str, Callable[[], None]]:
    name = f"sr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]

    return url, drop


def run(backend: str, n: int) -> tuple[float, float]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            ours = strongroom_rate(f"sqlite:///{tmp}/ledger.db", n)
            base = sqlite_baseline(Path(tmp) / "baseline.db", n)
        return ours, base
    url, drop = _pg_database()
    try:
        ours = strongroom_rate(url, n)
    finally:
        drop()
    url, drop = _pg_database()
    try:
        base = pg_baseline(url, n)
    finally:
        drop()
    return ours, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    print(f"{'backend':<11} {'strongroom/s':>13} {'baseline/s':>11} {'ratio':>6}")
    for backend in backends:
        ours, base = run(backend, args.n)
        print(f"{backend:<11} {ours:>13.0f} {base:>11.0f} {ours / base:>6.2f}")


if __name__ == "__main__":
    main()
