"""SQLite writers take the write lock as their transaction begins, and a busy file
is an error the unit of work retries, as for any statement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from strongroom.store.database import create_db_engine, is_retryable, write_connection


def test_a_write_transaction_holds_the_write_lock_from_its_begin(tmp_path: Path) -> None:
    path = tmp_path / "begin.db"
    engine = create_db_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with (
            write_connection(engine) as conn,
            conn.begin(),
            pytest.raises(sqlite3.OperationalError, match="locked"),
        ):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at the end of the block
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_a_busy_file_at_begin_is_a_retryable_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.connect():  # the file in WAL mode, and a connection in the pool
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with write_connection(engine) as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=20")  # type: ignore[union-attr]
            with pytest.raises(OperationalError) as busy:
                conn.begin()
        assert "locked" in str(busy.value.orig)
        assert is_retryable(busy.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
