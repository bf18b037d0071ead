"""Every SQLite connection Strongroom opens has its durability and checkpoint settings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from strongroom.store.database import SQLITE_WAL_AUTOCHECKPOINT_PAGES, create_db_engine

FULL = 2  # PRAGMA synchronous answers with a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_each_connection_is_durable_wal_with_its_checkpoint_interval(tmp_path: Path) -> None:
    """WAL, synchronous=FULL (a write returns once durable), foreign keys on, and the
    WAL checkpointed every SQLITE_WAL_AUTOCHECKPOINT_PAGES pages, on every pooled
    connection, not only the first."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA synchronous")).scalar() == FULL
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
                interval = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
                assert interval == SQLITE_WAL_AUTOCHECKPOINT_PAGES == 10_000
    finally:
        engine.dispose()


def test_the_wal_reaches_the_file_only_past_the_interval(tmp_path: Path) -> None:
    """Half the interval of pages stays in the WAL (SQLite's default would have
    checkpointed it five times); past the interval, the commit checkpoints it into
    the database file."""
    path = tmp_path / "checkpoint.db"
    engine = create_db_engine(f"sqlite:///{path}")
    pad = "x" * 3000  # a row about a page long
    half = SQLITE_WAL_AUTOCHECKPOINT_PAGES // 2

    def write(rows: int) -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (pad) VALUES (:pad)"), [{"pad": pad}] * rows)

    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"))
        write(half)
        assert path.stat().st_size < 1_000_000  # still in the WAL
        write(half + 500)
        assert path.stat().st_size > SQLITE_WAL_AUTOCHECKPOINT_PAGES * 3000
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2 * half + 500
    finally:
        engine.dispose()
