"""A restart of ``strongroom serve`` waits on no lock a killed server may still hold.

After SIGKILL, each PostgreSQL backend of the dead server ends when it notices its
client is gone: at once when idle, after its statement when busy. Until then it
keeps its locks. ``serve`` first migrates (a no-op on a current schema) and
checks for a first tenant; neither may wait on such a lock, the migrators' lock
included.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from strongroom.access.service import Access
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import _ADVISORY_LOCK, head_revision, upgrade


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The test's database, where a lock wait fails (55P03) rather than hangs."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(f"ALTER DATABASE {name[0]} SET lock_timeout = '5s'")
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.mark.postgresql_only
def test_a_restart_on_a_current_schema_takes_no_lock_of_the_dead_server(
    db_url: str, engine: Engine
) -> None:
    """The migrators' lock and the rows of every table are held: serve's preparation passes."""
    access = Access(engine)
    access.create_tenant("before the crash")
    with psycopg.connect(db_url) as dying:  # a dead server's backend, not ended yet
        dying.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
        for table in ("tenants", "api_keys", "access_epoch", "scheduled_jobs"):
            dying.execute(f"SELECT * FROM {table} FOR UPDATE")
        assert upgrade(engine) == head_revision()
        assert access.has_tenants()
