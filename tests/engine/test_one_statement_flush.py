"""A unit of work's writes go out as one statement on PostgreSQL (``write_changes``),
and its first reads as one more (the prefetch). What that must not change: a hold
created and ended in one unit of work, lock order, and finding rows by key."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from strongroom import Ledger
from strongroom.engine.requests import TransferRequest
from strongroom.engine.uow import UnitOfWork
from strongroom.store import queries as q
from strongroom.store.database import write_connection
from strongroom.store.prepared import raw, text_array


def _accounts(ledger: Ledger) -> None:
    ledger.create_account("cash", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")


@pytest.mark.parametrize("ending", ["post", "partial", "void", "expire"])
def test_a_hold_created_and_ended_in_one_unit_of_work_is_stored_as_ended(
    ledger: Ledger, ending: str
) -> None:
    """The new row is written with the hold's end, not left pending beside an UPDATE
    that, in the same statement, could not see it."""
    _accounts(ledger)

    def work(uow: UnitOfWork) -> str:
        hold = uow.transfer("cash", "user:1", 100, "USD", pending=True, timeout_seconds=60)
        if ending == "post":
            uow.post_pending(hold.id)
        elif ending == "partial":
            uow.post_pending(hold.id, 40)
        elif ending == "void":
            uow.void_pending(hold.id)
        else:
            uow.expire_hold(hold.id)
        return hold.id

    tx_id = ledger.transact(work)
    stored = ledger.get_transaction(tx_id)
    expected = {"post": "posted", "partial": "posted", "void": "voided", "expire": "expired"}
    assert stored.status.value == expected[ending]
    assert stored.pending_amount_posted == {"post": 100, "partial": 40}.get(ending)
    balance = ledger.balance("user:1")
    assert balance.posted == {"post": 100, "partial": 40}.get(ending, 0)
    assert balance.pending_credits == 0
    assert ledger.verify().ok


def test_a_hold_ended_in_a_later_unit_of_work_is_updated(ledger: Ledger) -> None:
    _accounts(ledger)
    hold = ledger.transfer("cash", "user:1", 100, "USD", pending=True)
    ledger.transact(
        lambda uow: (uow.post_pending(hold.id, 30), uow.transfer("cash", "user:1", 1, "USD"))
    )
    stored = ledger.get_transaction(hold.id)
    assert (stored.status.value, stored.pending_amount_posted) == ("posted", 30)
    assert ledger.balance("user:1").posted == 31
    assert ledger.verify().ok


def test_a_failing_part_fails_the_whole_flush(ledger: Ledger) -> None:
    """A row refused by one table (here a duplicate outbox id) leaves nothing of the others."""
    _accounts(ledger)
    head = ledger.head()

    def clash(uow: UnitOfWork) -> None:
        uow.transfer("cash", "user:1", 5, "USD", idempotency_key="once")
        first = ledger.list_events().data[0].id
        uow._events[-1]["id"] = first  # a duplicate, on purpose

    with pytest.raises(IntegrityError, match="outbox"), ledger.unit_of_work() as uow:
        clash(uow)
    assert ledger.head() == head
    assert ledger.balance("user:1").posted == 0
    replay = ledger.transfer("cash", "user:1", 5, "USD", idempotency_key="once")
    assert not replay.replayed
    assert ledger.verify().ok


# -- PostgreSQL: lock order and plans --------------------------------------------------------


AWKWARD_KEYS = ['a"b', "c\\d", "e,f", "{g}", " h i ", "NULL", "'j'", '\\"', "~!@#$%^&*()"]
AWKWARD_IDS = ["@house", "user:a.b", "x+y=z", "under_score-dash"]


def test_keys_and_ids_with_any_allowed_character_are_found_again(ledger: Ledger) -> None:
    """Ids and keys travel to PostgreSQL as one array literal each (``text_array``):
    quotes, backslashes, commas, braces, spaces and the word NULL in a key, and
    every punctuation an account id allows, find their rows again. Several keys and
    accounts at once go through the group's prefetch and the accounts' update."""
    ledger.create_account("cash", currency="USD", overdraft_limit=None)
    for account in AWKWARD_IDS:
        ledger.create_account(account, currency="USD")
    requests = [
        TransferRequest(
            "cash", AWKWARD_IDS[i % len(AWKWARD_IDS)], i + 1, "USD", idempotency_key=key
        )
        for i, key in enumerate(AWKWARD_KEYS)
    ]
    first = ledger.batch(requests)
    assert [r.status for r in first] == [201] * len(AWKWARD_KEYS)
    again = ledger.batch(requests)
    assert [r.transaction.id for r in again] == [r.transaction.id for r in first]  # type: ignore[union-attr]
    assert all(r.transaction.replayed for r in again)  # type: ignore[union-attr]
    for i, key in enumerate(AWKWARD_KEYS):
        tx = ledger.transfer(
            "cash", AWKWARD_IDS[i % len(AWKWARD_IDS)], i + 1, "USD", idempotency_key=key
        )
        assert tx.replayed
        assert tx.id == first[i].transaction.id
    posted = {a: ledger.balance(a).posted for a in AWKWARD_IDS}
    expected = dict.fromkeys(AWKWARD_IDS, 0)
    for i in range(len(AWKWARD_KEYS)):
        expected[AWKWARD_IDS[i % len(AWKWARD_IDS)]] += i + 1
    assert posted == expected
    assert ledger.verify().ok


@pytest.mark.postgresql_only
def test_an_array_literal_reads_back_as_its_values(pg: Ledger) -> None:
    """``text_array`` quotes every element: PostgreSQL reads back exactly the strings."""
    values = [*AWKWARD_KEYS, "", "plain"]
    with pg.engine.connect() as conn:
        cursor = raw(conn).cursor()
        cursor.execute("SELECT %s::text[]", [text_array(values)])
        assert cursor.fetchone() == (values,)
        cursor.execute("SELECT cardinality(%s::text[])", [text_array([])])
        assert cursor.fetchone() == (0,)


def _admin(engine: Engine, *, autocommit: bool = False) -> psycopg.Connection:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=autocommit)


@pytest.fixture
def pg(ledger: Ledger) -> Ledger:
    """The ledger of a test marked ``postgresql_only`` (generated for PostgreSQL alone)."""
    return ledger


@pytest.mark.postgresql_only
def test_the_prefetch_locks_the_head_before_any_account(pg: Ledger) -> None:
    """While the prefetch waits for an account another transaction holds, it already
    holds the head: the lock order of every writer is head first, then accounts."""
    _accounts(pg)
    with _admin(pg.engine) as holder, _admin(pg.engine, autocommit=True) as probe:
        holder.execute("SELECT 1 FROM accounts WHERE id = 'user:1' FOR UPDATE")
        outcome: list[object] = []

        def prefetch() -> None:
            with write_connection(pg.engine) as conn, conn.begin():
                head, found, _ = q.lock_head_and_load(conn, pg.tenant, ["cash", "user:1"], ["k"])
                outcome.append((head.seq, sorted(found)))

        waiting = threading.Thread(target=prefetch)
        waiting.start()
        deadline = time.monotonic() + 10
        blocked = False
        probe.execute("SET lock_timeout = '100ms'")  # a session setting: autocommit
        while time.monotonic() < deadline and not blocked:
            try:
                probe.execute(
                    "SELECT 1 FROM ledger_heads WHERE tenant_id = %s FOR UPDATE", (pg.tenant,)
                )
            except psycopg.errors.LockNotAvailable:
                blocked = True
        holder.rollback()
        waiting.join(10)
    assert blocked, "the head was free while the prefetch waited for an account"
    assert outcome == [(pg.head()[0], ["cash", "user:1"])]


@pytest.mark.postgresql_only
def test_the_prefetch_reads_the_head_accounts_and_keys(pg: Ledger) -> None:
    _accounts(pg)
    pg.transfer("cash", "user:1", 7, "USD", idempotency_key="k1")
    with write_connection(pg.engine) as conn, conn.begin():
        head, found, stored = q.lock_head_and_load(
            conn, pg.tenant, ["user:1", "missing", "cash"], ["k1", "k2"]
        )
    assert head.seq == pg.head()[0]
    assert found["user:1"] == pg.get_account("user:1")
    assert sorted(found) == ["cash", "user:1"]
    assert list(stored) == ["k1"]
    assert stored["k1"].operation == "transfer"
    with write_connection(pg.engine) as conn, conn.begin(), pytest.raises(LookupError):
        q.lock_head_and_load(conn, "no-such-tenant", ["cash"], [])


@pytest.mark.postgresql_only
def test_the_flush_finds_accounts_by_key_on_a_generic_plan(pg: Ledger) -> None:
    """The planner guesses 100 rows for a JSON recordset; without the key comparisons it
    joins a few thousand accounts by scanning all of them. Checked on the generic plan,
    which is what a prepared statement settles on."""
    pg.transact(lambda uow: [uow.create_account(f"user:{i}", currency="USD") for i in range(3000)])
    with pg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE accounts")
    accounts = [pg.get_account("user:1"), pg.get_account("user:2")]
    with write_connection(pg.engine) as conn, conn.begin():
        rows = [q._account_update(pg.tenant, a) for a in accounts]
        sql, params = q._ACCOUNT_UPDATE.bulk(conn, rows)
        cursor = raw(conn).cursor()
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        numbered = sql
        for n in range(1, len(params) + 1):
            numbered = numbered.replace("%s", f"${n}", 1)
        cursor.execute(f"PREPARE probe AS {numbered}")
        literal = ", ".join(psycopg.sql.Literal(p).as_string(cursor) for p in params)
        plan = "\n".join(r[0] for r in cursor.execute(f"EXPLAIN EXECUTE probe({literal})"))
        conn.rollback()
    assert "Index Scan using pk_accounts" in plan, plan
    assert "Seq Scan on accounts" not in plan, plan


@pytest.mark.postgresql_only
def test_the_prefetch_is_planned_for_the_tables_as_they_are(pg: Ledger) -> None:
    """A prepared statement's generic plan is made from the statistics of its moment
    and kept while tables grow: made while idempotency_keys was nearly empty, the
    prefetch's found keys by reading every key of the tenant. The prefetch must
    never become a prepared statement, and must find keys by key once there are
    many (planned on a table ANALYZEd empty, as a fresh database is)."""
    _accounts(pg)
    with pg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE idempotency_keys")
    pg.batch(
        [
            {"from": "cash", "to": "user:1", "amount": 1, "currency": "USD",
             "idempotency_key": f"k{i}"}
            for i in range(1000)
        ]
    )  # fmt: skip
    with write_connection(pg.engine) as conn:
        for i in range(20):
            with conn.begin():
                _, _, stored = q.lock_head_and_load(
                    conn, pg.tenant, ["cash", "user:1"], [f"k{i}", f"k{i + 1}", "none"]
                )
                assert sorted(stored) == sorted([f"k{i}", f"k{i + 1}"])
        cursor = raw(conn).cursor()
        prepared = cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH h AS%%'"
        ).fetchone()
        assert prepared == (0,)
        params = {"t": pg.tenant, "ids": ["cash"], "keys": ["k1", "k2"]}
        literal = psycopg.ClientCursor(raw(conn)).mogrify(q._PREFETCH, params)
        with conn.begin():
            plan = "\n".join(r[0] for r in cursor.execute(f"EXPLAIN {literal}"))
    keys_scan = plan[plan.index("idempotency_keys") :]
    assert "Index Cond:" in keys_scan, plan
    assert "((key)::text = ANY" in keys_scan, plan
    assert "Filter: ((key)" not in keys_scan, plan


@pytest.mark.postgresql_only
def test_a_connection_lost_inside_a_unit_of_work_is_dropped_and_the_unit_retried(
    pg: Ledger,
) -> None:
    """The unit of work's statements run on the driver's cursor. When the server ends
    the connection between two of them, the error is SQLAlchemy's invalidated
    connection error, as for statements SQLAlchemy runs: the pool drops the
    connection and the ledger retries the whole unit on a new one."""
    _accounts(pg)
    attempts: list[int] = []

    def work(uow: UnitOfWork) -> int:
        attempts.append(1)
        moved = uow.transfer("cash", "user:1", 2, "USD").balances["user:1"].posted
        if len(attempts) == 1:
            pid = uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with _admin(pg.engine, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                deadline = time.monotonic() + 10
                while (
                    time.monotonic() < deadline
                    and admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                ):
                    time.sleep(0.01)
        return moved

    assert pg.transact(work) == 2
    assert len(attempts) == 2
    assert pg.balance("user:1").posted == 2
    assert pg.verify().ok
