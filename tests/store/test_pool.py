"""PostgreSQL: the pool keeps the connections it opens, whatever the load.

With an overflow beyond a kept core, every connection that came back to a full
core was closed, so a load with more requests in flight than the core opened and
closed a PostgreSQL backend (a process) for many of its requests.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from strongroom.store.database import create_db_engine, read_connection, write_connection

pytestmark = pytest.mark.postgresql_only

POOL = 3


def test_more_callers_than_connections_reuse_the_same_backends(db_url: str) -> None:
    """Three rounds of twice as many concurrent callers as the pool holds, reading and
    writing: every call succeeds, at most POOL run at once, and all of them ran on the
    first POOL backends the pool opened."""
    engine = create_db_engine(db_url, pool_size=POOL)
    seen: list[int] = []
    inside = 0
    most = 0
    lock = threading.Lock()

    def call(i: int) -> None:
        nonlocal inside, most
        opened = read_connection(engine) if i % 2 else write_connection(engine)
        with opened as conn:
            with lock:
                inside += 1
                most = max(most, inside)
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            time.sleep(0.02)  # the others queue meanwhile
            with lock:
                inside -= 1
                seen.append(pid)
            conn.rollback()

    try:
        with ThreadPoolExecutor(max_workers=2 * POOL) as callers:
            for _ in range(3):
                list(callers.map(call, range(2 * POOL)))
        assert len(seen) == 3 * 2 * POOL
        assert most <= POOL
        assert len(set(seen)) <= POOL
        with engine.connect() as conn:
            backends = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend'"
                )
            ).scalar_one()
        assert backends <= POOL
    finally:
        engine.dispose()
