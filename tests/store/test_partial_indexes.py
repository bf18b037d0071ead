"""The partial indexes of transactions (migration 0008), on every backend.

The expiry sweep and the listing by kind read indexes that hold only pending
holds and transactions with a kind. These tests run the store's own queries,
capture the SQL they send, and ask each backend's planner how it would run it;
and they take a database of the revision before through the migration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from psycopg.sql import Literal
from sqlalchemy import Connection, Engine, event, inspect

from strongroom import Ledger
from strongroom.domain.transactions import TxStatus
from strongroom.store import queries as q
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import current_revision, downgrade, head_revision, upgrade
from strongroom.testing import FakeClock

PENDING_INDEX = "ix_transactions_tenant_id_expires_at"
KIND_INDEX = "ix_transactions_tenant_id_kind_seq"


def _books(ledger: Ledger) -> None:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD")
    ledger.transfer("user:1", "shop", 10, "USD", kind="sale")
    ledger.transfer("user:1", "shop", 20, "USD", pending=True, timeout_seconds=60)


@contextmanager
def _sent(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) sent on ``engine`` inside the block."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan(engine: Engine, run: Callable[[Connection], object]) -> str:
    """How the backend would run the first statement ``run`` sends (its plan, as text).

    On PostgreSQL, the generic plan of the statement prepared: the driver prepares
    a statement it runs often, and a generic plan knows no parameter's value, so
    only what the statement spells out can match an index's condition.
    """
    with engine.connect() as conn:
        with _sent(engine) as sent:
            run(conn)
        statement, parameters = sent[0]
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", statement)
        # A test's tables are tiny, where a full scan is cheapest: ask whether an
        # index can serve the statement at all.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql("PREPARE plan_check AS " + numbered)
        driver = conn.connection.dbapi_connection
        values = [Literal(parameters[name]).as_string(driver) for name in names]
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE plan_check({', '.join(values)})")
        plan = "\n".join(str(row[0]) for row in rows)
        conn.exec_driver_sql("DEALLOCATE plan_check")
        return plan


def test_the_sweep_and_the_listing_by_kind_read_the_partial_indexes(
    open_ledger: Callable[..., Ledger], clock: FakeClock
) -> None:
    """Both sweeps of due holds and the listing by kind go through the partial indexes."""
    ledger = open_ledger()
    _books(ledger)
    engine, now = ledger.engine, clock.now() + timedelta(seconds=61)

    assert PENDING_INDEX in _plan(engine, lambda c: q.tenants_with_due_holds(c, now))
    assert PENDING_INDEX in _plan(engine, lambda c: q.due_holds(c, "t1", now, 100))
    listing = _plan(
        engine,
        lambda c: q.list_transactions(
            c, "t1", account=None, kind="sale", start=None, end=None, after=None, limit=10
        ),
    )
    assert KIND_INDEX in listing


def test_the_indexes_are_partial_as_declared(db_url: str) -> None:
    """The migrated database holds the two indexes with their conditions."""
    engine = create_db_engine(db_url)
    try:
        found = {ix["name"]: ix for ix in inspect(engine).get_indexes("transactions")}
    finally:
        engine.dispose()
    where = f"{engine.dialect.name}_where"
    pending = str(found[PENDING_INDEX]["dialect_options"][where])
    with_kind = str(found[KIND_INDEX]["dialect_options"][where])
    assert found[PENDING_INDEX]["column_names"] == ["tenant_id", "expires_at"]
    assert "status" in pending
    assert f"'{TxStatus.PENDING.value}'" in pending
    assert found[KIND_INDEX]["column_names"] == ["tenant_id", "kind", "seq"]
    assert "kind IS NOT NULL" in with_kind.replace("(", "").replace(")", "")
    assert "ix_transactions_tenant_id_status_expires_at" not in found


def test_a_database_of_0007_migrates_with_its_holds_and_kinds(
    db_url: str, clock: FakeClock
) -> None:
    """Down to 0007 (the full indexes), books written there, then up to the head: the
    due hold still expires, the listing by kind finds its transaction, and the books
    verify; the way down again restores the full indexes."""
    engine = create_db_engine(db_url)
    try:
        downgrade(engine, "0007")
        names = {ix["name"] for ix in inspect(engine).get_indexes("transactions")}
        assert "ix_transactions_tenant_id_status_expires_at" in names
        assert PENDING_INDEX not in names

        with Ledger(engine, tenant="t1", clock=clock) as ledger:
            ledger.ensure_tenant()
            _books(ledger)
        assert upgrade(engine) == head_revision() == current_revision(engine)

        with Ledger(engine, tenant="t1", clock=clock) as ledger:
            assert [tx.kind for tx in ledger.list_transactions(kind="sale").data] == ["sale"]
            clock.advance(61)
            assert ledger.expire_holds_of_all_tenants() == 1
            assert ledger.get_account("user:1").balance.available == 990
            assert ledger.verify().ok

        downgrade(engine, "0007")
        names = {ix["name"] for ix in inspect(engine).get_indexes("transactions")}
        assert {"ix_transactions_tenant_id_status_expires_at", KIND_INDEX} <= names
        assert PENDING_INDEX not in names
    finally:
        engine.dispose()
