"""What one lone transfer writes: WAL frames on SQLite, WAL bytes on PostgreSQL.

    .venv/bin/python bench/write_footprint.py                  # both backends, at the head
    .venv/bin/python bench/write_footprint.py --at 0007        # the schema of revision 0007

Each backend gets a fresh database with the benchmark's 1,000 funded accounts;
after 200 transfers to warm up, it counts what ``--transfers`` more lone keyed
transfers (one caller, no group commit) add to the write-ahead log. SQLite: the
frames (one page each) the WAL holds, checkpointed empty before. PostgreSQL: the
distance the WAL's insert position moved (other databases writing on the same
server meanwhile count too: run it on a quiet server). Counts, not times: the
same on a busy machine.
"""

from __future__ import annotations

import argparse
import sqlite3

from sqlalchemy import text

from strongroom.bench.databases import fresh_database
from strongroom.bench.workload import CURRENCY, every_account, set_up_ledger
from strongroom.engine.ledger import Ledger
from strongroom.store.migrate import downgrade

WARM_UP = 200
ACCOUNTS = 1000


def _transfers(ledger: Ledger, ids: list[str], start: int, count: int) -> None:
    for i in range(start, start + count):
        source, destination = ids[i % ACCOUNTS], ids[(i * 7 + 3) % ACCOUNTS]
        ledger.transfer(source, destination, 1, CURRENCY, idempotency_key=f"f{i}")


def _ledger(url: str, at: str | None) -> Ledger:
    ledger = Ledger.open(url, tenant="footprint", group_commit=False)
    if at is not None:
        downgrade(ledger.engine, at)
    set_up_ledger(ledger, ACCOUNTS)
    _transfers(ledger, every_account(ACCOUNTS), 0, WARM_UP)
    return ledger


def sqlite_frames(count: int, at: str | None) -> float:
    """WAL frames per transfer (at most 10,000 frames in all: the WAL checkpoints then)."""
    count = min(count, 400)
    with fresh_database("sqlite", "") as db, _ledger(db.url, at) as ledger:
        side = sqlite3.connect(str(db.sqlite_path), isolation_level=None)
        try:
            side.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _transfers(ledger, every_account(ACCOUNTS), WARM_UP, count)
            _busy, frames, _moved = side.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            side.close()
    return float(frames) / count


def postgresql_bytes(count: int, at: str | None, admin_url: str) -> float:
    """WAL bytes per transfer."""
    with fresh_database("postgresql", admin_url) as db, _ledger(db.url, at) as ledger:
        position = text("SELECT pg_current_wal_insert_lsn()")
        with ledger.engine.connect() as conn:
            before = conn.execute(position).scalar_one()
        _transfers(ledger, every_account(ACCOUNTS), WARM_UP, count)
        with ledger.engine.connect() as conn:
            after = conn.execute(position).scalar_one()
            moved = conn.execute(
                text("SELECT pg_wal_lsn_diff(:after, :before)"), {"after": after, "before": before}
            ).scalar_one()
    return float(moved) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=400, help="transfers counted")
    parser.add_argument("--at", help="migrate down to this revision first (e.g. 0007)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1/postgres")
    args = parser.parse_args()
    schema = f"revision {args.at}" if args.at else "the head revision"
    if args.backend in ("sqlite", "all"):
        frames = sqlite_frames(args.transfers, args.at)
        print(f"sqlite, {schema}: {frames:.1f} WAL frames per lone transfer")
    if args.backend in ("postgresql", "all"):
        moved = postgresql_bytes(args.transfers, args.at, args.postgres_url)
        print(f"postgresql, {schema}: {moved:,.0f} WAL bytes per lone transfer")


if __name__ == "__main__":
    main()
