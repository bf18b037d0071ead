"""Every SQL statement of the ledger core, scoped by tenant.

The engine calls these inside its units of work; nothing above this module
writes SQL. Writes take lists so a unit of work can flush many requests in one
round trip per table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, func, insert, literal_column, select, update
from sqlalchemy.engine import Row

from strongroom.domain.accounts import Account, AccountStatus, Side, Sums
from strongroom.domain.chain import GENESIS
from strongroom.domain.money import Currency
from strongroom.domain.transactions import Effect, Line, Posting, Transaction, TxStatus
from strongroom.store.prepared import (
    Prepared,
    execute_together,
    py_time,
    run,
    select_in,
    text_array,
)
from strongroom.store.schema import (
    PENDING,
    accounts,
    idempotency_keys,
    journal,
    journal_postings,
    ledger_heads,
    outbox,
    tenants,
    transactions,
    units,
)


def dumps(value: Any) -> str:
    """Deterministic JSON for stored documents: sorted keys, no spaces, UTF-8 as is.

    orjson writes exactly what ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` writes for the values stored
    here (tests/store/test_json.py), several times faster.
    """
    return dumps_bytes(value).decode()


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes: also the engine's encoder of canonical entries
    (:data:`strongroom.domain.chain.Encode`), the bytes of ``chain.json_bytes``."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class Head:
    seq: int
    hash: str
    event_seq: int
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredKey:
    operation: str
    request_hash: str
    response: str


# -- tenants, heads and units ------------------------------------------------------


def tenant_exists(conn: Connection, tenant: str) -> bool:
    return conn.execute(select(tenants.c.id).where(tenants.c.id == tenant)).first() is not None


def insert_tenant(conn: Connection, tenant: str, name: str, now: datetime) -> None:
    conn.execute(insert(tenants).values(id=tenant, name=name, created_at=now))
    conn.execute(
        insert(ledger_heads).values(
            tenant_id=tenant, seq=0, hash=GENESIS, event_seq=0, updated_at=now
        )
    )


_LOCK_HEAD = Prepared(
    select(
        ledger_heads.c.seq, ledger_heads.c.hash, ledger_heads.c.event_seq, ledger_heads.c.updated_at
    ).where(ledger_heads.c.tenant_id == bindparam("tenant_id")),
    lock=True,
)
_SAVE_HEAD = Prepared(
    update(ledger_heads)
    .where(ledger_heads.c.tenant_id == bindparam("t_id"))
    .values(
        seq=bindparam("seq"),
        hash=bindparam("hash"),
        event_seq=bindparam("event_seq"),
        updated_at=bindparam("updated_at"),
    ),
    table=ledger_heads,
    match={"t_id": "tenant_id"},
)


def lock_head(conn: Connection, tenant: str) -> Head:
    """Lock the tenant's chain head: every writer of a tenant takes it first."""
    return _head_of(_LOCK_HEAD.execute(conn, {"tenant_id": tenant}), tenant)


def _head_of(cursor: Any, tenant: str) -> Head:
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        raise LookupError(f"tenant {tenant!r} has no ledger")
    return _head_from(row)


def _head_from(values: Sequence[Any]) -> Head:
    """A head from its columns as read raw: seq, hash, event_seq, updated_at."""
    at = py_time(values[3])
    assert at is not None
    return Head(values[0], values[1], values[2], at)


def lock_head_and_load(
    conn: Connection, tenant: str, account_ids: Sequence[str], keys: Sequence[str]
) -> tuple[Head, dict[str, Account], dict[str, StoredKey]]:
    """Lock the head, then lock and load accounts and look up keys: one round trip.

    On PostgreSQL this is one statement (:data:`_PREFETCH`); on SQLite, where a
    statement costs no round trip and the write lock is the whole file, three.
    """
    if conn.dialect.name == "postgresql":
        return _prefetch_postgresql(conn, tenant, account_ids, keys)
    head = lock_head(conn, tenant)
    found = load_accounts(conn, tenant, account_ids, lock=True)
    return head, found, load_keys(conn, tenant, keys) if keys else {}


_ACCOUNT_COLUMNS = [c.name for c in accounts.columns if c.name != "tenant_id"]
_KEY_COLUMNS = ["key", "operation", "request_hash", "response"]
_HEAD_COLUMNS = ["seq", "hash", "event_seq", "updated_at"]


def _prefetch_sql() -> str:
    """The head, the accounts and the keys: one row of three JSON documents.

    Lock order as everywhere: the head first, then accounts by id. The accounts'
    scan is gated on the head (a one-time filter, evaluated before the scan
    starts), so no account is locked before the head is; the keys are only read.
    One row of JSON costs the server less to parse and plan than a union of rows
    padded to one width (about 0.15 ms less a statement).
    """
    return (
        f"WITH h AS (SELECT {', '.join(_HEAD_COLUMNS)} FROM ledger_heads"  # noqa: S608
        " WHERE tenant_id = %(t)s FOR UPDATE),"
        f" a AS (SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM accounts"
        " WHERE tenant_id = %(t)s AND id = ANY(%(ids)s::text[]) AND (SELECT seq FROM h) IS NOT NULL"
        " ORDER BY id FOR UPDATE)"
        " SELECT (SELECT row_to_json(h)::text FROM h),"
        " (SELECT json_agg(a)::text FROM a),"
        f" (SELECT json_agg(k)::text FROM (SELECT {', '.join(_KEY_COLUMNS)}"
        " FROM idempotency_keys WHERE tenant_id = %(t)s AND key = ANY(%(keys)s::text[])) k)"
    )


_PREFETCH = _prefetch_sql()


def _prefetch_postgresql(
    conn: Connection, tenant: str, account_ids: Sequence[str], keys: Sequence[str]
) -> tuple[Head, dict[str, Account], dict[str, StoredKey]]:
    # Planned for its values at every execution: a prepared statement's generic
    # plan is made once, from the statistics of that moment, and kept while the
    # tables grow. Made while idempotency_keys was nearly empty, it found keys by
    # reading every key of the tenant, so each unit of work got slower as keys
    # accumulated, until autovacuum analyzed the table. A plan made now sees the
    # tables' present size.
    params = {
        "t": tenant,
        "ids": text_array(sorted(set(account_ids))),
        "keys": text_array(sorted(set(keys))),
    }
    cursor = run(conn, _PREFETCH, params, prepare=False)
    head_json, accounts_json, keys_json = cursor.fetchone()
    cursor.close()
    if head_json is None:
        raise LookupError(f"tenant {tenant!r} has no ledger")
    head = orjson.loads(head_json)
    found = {row["id"]: _raw_account(row) for row in orjson.loads(accounts_json or "[]")}
    stored = {
        row["key"]: StoredKey(row["operation"], row["request_hash"], row["response"])
        for row in orjson.loads(keys_json or "[]")
    }
    return _head_from([head[name] for name in _HEAD_COLUMNS]), found, stored


def read_head(conn: Connection, tenant: str) -> Head | None:
    row = conn.execute(select(ledger_heads).where(ledger_heads.c.tenant_id == tenant)).first()
    return None if row is None else Head(row.seq, row.hash, row.event_seq, row.updated_at)


def _head_values(tenant: str, head: Head) -> dict[str, Any]:
    return {
        "t_id": tenant,
        "seq": head.seq,
        "hash": head.hash,
        "event_seq": head.event_seq,
        "updated_at": head.at,
    }


def load_units(conn: Connection, tenant: str) -> dict[str, Currency]:
    rows = conn.execute(select(units.c.code, units.c.exponent).where(units.c.tenant_id == tenant))
    return {r.code: Currency(r.code, r.exponent, iso=False) for r in rows}


def insert_unit(conn: Connection, tenant: str, unit: Currency, now: datetime) -> None:
    conn.execute(
        insert(units).values(
            tenant_id=tenant, code=unit.code, exponent=unit.exponent, created_at=now
        )
    )


# -- accounts ------------------------------------------------------------------------


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        currency=row.currency,
        normal_balance=Side(row.normal_balance),
        status=AccountStatus(row.status),
        overdraft_limit=row.overdraft_limit,
        metadata=json.loads(row.metadata),
        sums=Sums(row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _raw_account(row: Mapping[str, Any]) -> Account:
    created, updated = py_time(row["created_at"]), py_time(row["updated_at"])
    assert created is not None
    return Account(
        id=row["id"],
        currency=row["currency"],
        normal_balance=Side(row["normal_balance"]),
        status=AccountStatus(row["status"]),
        overdraft_limit=row["overdraft_limit"],
        metadata=json.loads(row["metadata"]),
        sums=Sums(
            row["posted_debits"],
            row["posted_credits"],
            row["pending_debits"],
            row["pending_credits"],
        ),
        version=row["version"],
        created_at=created,
        updated_at=updated,
    )


def load_accounts(
    conn: Connection, tenant: str, ids: Iterable[str], *, lock: bool
) -> dict[str, Account]:
    """Accounts by id, in id order (the lock order), locked on PostgreSQL when asked."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = select_in(
        conn, "accounts", _ACCOUNT_COLUMNS, {"tenant_id": tenant}, "id", wanted,
        lock=lock, order_by="id",
    )  # fmt: skip
    return {row["id"]: _raw_account(row) for row in rows}


def iter_accounts(conn: Connection, tenant: str, *, chunk: int = 2000) -> Iterator[Account]:
    after: str | None = None
    while True:
        page = list_accounts(conn, tenant, prefix=None, after=after, limit=chunk)
        yield from page
        if len(page) < chunk:
            return
        after = page[-1].id


def list_accounts(
    conn: Connection, tenant: str, *, prefix: str | None, after: str | None, limit: int
) -> list[Account]:
    query = select(accounts).where(accounts.c.tenant_id == tenant)
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(accounts.c.id.like(f"{escaped}%", escape="\\"))
    if after is not None:
        query = query.where(accounts.c.id > after)
    rows = conn.execute(query.order_by(accounts.c.id).limit(limit))
    return [_account(r) for r in rows]


def _account_values(tenant: str, account: Account) -> dict[str, Any]:
    s = account.sums
    return {
        "tenant_id": tenant,
        "id": account.id,
        "currency": account.currency,
        "normal_balance": account.normal_balance.value,
        "status": account.status.value,
        "overdraft_limit": account.overdraft_limit,
        "metadata": dumps(dict(account.metadata)),
        "posted_debits": s.posted_debits,
        "posted_credits": s.posted_credits,
        "pending_debits": s.pending_debits,
        "pending_credits": s.pending_credits,
        "version": account.version,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


_INSERT_ACCOUNT = Prepared(insert(accounts))


_ACCOUNT_UPDATE = Prepared(
    update(accounts)
    .where(accounts.c.tenant_id == bindparam("t_id"), accounts.c.id == bindparam("a_id"))
    .values(
        status=bindparam("status"),
        overdraft_limit=bindparam("overdraft_limit"),
        metadata=bindparam("metadata"),
        posted_debits=bindparam("posted_debits"),
        posted_credits=bindparam("posted_credits"),
        pending_debits=bindparam("pending_debits"),
        pending_credits=bindparam("pending_credits"),
        version=bindparam("version"),
        updated_at=bindparam("updated_at"),
    ),
    table=accounts,
    match={"t_id": "tenant_id", "a_id": "id"},
)


def _account_update(tenant: str, account: Account) -> dict[str, Any]:
    """What an UPDATE writes of a changed account: sums, status, limit, metadata, version."""
    values = _account_values(tenant, account)
    values["t_id"] = values.pop("tenant_id")
    values["a_id"] = values.pop("id")
    for key in ("currency", "normal_balance", "created_at"):
        values.pop(key)
    return values


def write_sums(conn: Connection, tenant: str, account_id: str, sums: Sums) -> None:
    """Overwrite an account's running sums (the rebuild after confirmed drift)."""
    conn.execute(
        update(accounts)
        .where(accounts.c.tenant_id == tenant, accounts.c.id == account_id)
        .values(
            posted_debits=sums.posted_debits,
            posted_credits=sums.posted_credits,
            pending_debits=sums.pending_debits,
            pending_credits=sums.pending_credits,
        )
    )


# -- the journal ----------------------------------------------------------------------


_INSERT_ENTRY = Prepared(insert(journal))
_INSERT_POSTING = Prepared(insert(journal_postings))


def iter_journal(
    conn: Connection, tenant: str, *, chunk: int = 2000
) -> Iterator[tuple[Row[Any], list[Row[Any]], Row[Any] | None]]:
    """Every journal entry of the tenant in sequence order, with its postings and
    the ``transactions`` row it created (``None`` for entries that end a hold)."""
    after = 0
    while True:
        entries = conn.execute(
            select(journal)
            .where(journal.c.tenant_id == tenant, journal.c.seq > after)
            .order_by(journal.c.seq)
            .limit(chunk)
        ).all()
        if not entries:
            return
        last = entries[-1].seq
        by_seq: dict[int, list[Row[Any]]] = {}
        rows = conn.execute(
            select(journal_postings)
            .where(
                journal_postings.c.tenant_id == tenant,
                journal_postings.c.seq > after,
                journal_postings.c.seq <= last,
            )
            .order_by(journal_postings.c.seq, journal_postings.c.idx)
        )
        for row in rows:
            by_seq.setdefault(row.seq, []).append(row)
        created = {
            r.seq: r
            for r in conn.execute(
                select(transactions).where(
                    transactions.c.tenant_id == tenant,
                    transactions.c.seq > after,
                    transactions.c.seq <= last,
                )
            )
        }
        for entry in entries:
            yield entry, by_seq.get(entry.seq, []), created.get(entry.seq)
        after = last


def load_transaction_rows(conn: Connection, tenant: str, ids: Sequence[str]) -> list[Row[Any]]:
    if not ids:
        return []
    t = transactions
    query = select(t).where(t.c.tenant_id == tenant, t.c.id.in_(list(ids)))
    return list(conn.execute(query).all())


def orphan_transaction_seq(conn: Connection, tenant: str) -> int | None:
    """The lowest seq of a ``transactions`` row that no journal entry created."""
    t = transactions
    missing = (
        select(func.min(t.c.seq))
        .select_from(
            t.outerjoin(
                journal, and_(journal.c.tenant_id == t.c.tenant_id, journal.c.seq == t.c.seq)
            )
        )
        .where(t.c.tenant_id == tenant, journal.c.seq.is_(None))
    )
    value = conn.execute(missing).scalar()
    return None if value is None else int(value)


def sums_at(conn: Connection, tenant: str, account_id: str, at: datetime) -> Sums:
    """The account's running sums as they stood after the last entry at or before ``at``."""
    p = journal_postings
    row = conn.execute(
        select(
            p.c.posted_debits_after,
            p.c.posted_credits_after,
            p.c.pending_debits_after,
            p.c.pending_credits_after,
        )
        .join(journal, and_(journal.c.tenant_id == p.c.tenant_id, journal.c.seq == p.c.seq))
        .where(p.c.tenant_id == tenant, p.c.account_id == account_id, journal.c.created_at <= at)
        .order_by(p.c.seq.desc(), p.c.idx.desc())
        .limit(1)
    ).first()
    if row is None:
        return Sums()
    return Sums(*row)


def statement(
    conn: Connection,
    tenant: str,
    account_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[Row[Any]]:
    """Posted lines of an account in sequence order, with the sums after each."""
    p = journal_postings
    query = (
        select(
            p.c.seq,
            p.c.idx,
            p.c.side,
            p.c.amount,
            p.c.posted_debits_after,
            p.c.posted_credits_after,
            journal.c.transaction_id,
            journal.c.description,
            journal.c.created_at,
        )
        .join(journal, and_(journal.c.tenant_id == p.c.tenant_id, journal.c.seq == p.c.seq))
        .where(
            p.c.tenant_id == tenant,
            p.c.account_id == account_id,
            p.c.effect == Effect.POST.value,
        )
    )
    if start is not None:
        query = query.where(journal.c.created_at >= start)
    if end is not None:
        query = query.where(journal.c.created_at < end)
    if after is not None:
        seq, idx = after
        query = query.where((p.c.seq > seq) | ((p.c.seq == seq) & (p.c.idx > idx)))
    return list(conn.execute(query.order_by(p.c.seq, p.c.idx).limit(limit)).all())


# -- transactions -------------------------------------------------------------------


def _lines(rows: Iterable[Row[Any]]) -> dict[int, list[Line]]:
    by_seq: dict[int, list[Line]] = {}
    for r in rows:
        by_seq.setdefault(r.seq, []).append(Line(r.account_id, r.side, r.amount))
    return by_seq


def _lines_of(conn: Connection, tenant: str, seqs: Sequence[int]) -> dict[int, list[Line]]:
    if not seqs:
        return {}
    p = journal_postings
    rows = conn.execute(
        select(p.c.seq, p.c.account_id, p.c.side, p.c.amount)
        .where(p.c.tenant_id == tenant, p.c.seq.in_(list(seqs)))
        .order_by(p.c.seq, p.c.idx)
    )
    return _lines(rows)


def _transaction(row: Mapping[Any, Any], lines: Sequence[Line]) -> Transaction:
    created = py_time(row["created_at"])
    assert created is not None
    return Transaction(
        id=row["id"],
        seq=row["seq"],
        status=TxStatus(row["status"]),
        currency=row["currency"],
        lines=tuple(lines),
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        kind=row["kind"],
        hash=row["hash"],
        created_at=created,
        pending_amount_posted=row["pending_amount_posted"],
        reverses=row["reverses"],
        expires_at=py_time(row["expires_at"]),
    )


def _with_lines(conn: Connection, tenant: str, rows: Sequence[Row[Any]]) -> list[Transaction]:
    lines = _lines_of(conn, tenant, [r.seq for r in rows])
    return [_transaction(r._mapping, lines.get(r.seq, [])) for r in rows]


_TX_COLUMNS = [c.name for c in transactions.columns if c.name != "tenant_id"]


def _transaction_sql(lock: bool) -> str:
    """A transaction and the lines of its entry, in one statement (PostgreSQL)."""
    columns = ", ".join(f"t.{name}" for name in _TX_COLUMNS)
    return (
        f"SELECT {columns},"  # noqa: S608 (names from the schema, values bound)
        " (SELECT json_agg(json_build_array(p.account_id, p.side, p.amount) ORDER BY p.idx)"
        " FROM journal_postings p WHERE p.tenant_id = t.tenant_id AND p.seq = t.seq)::text"
        " FROM transactions t WHERE t.tenant_id = %s AND t.id = %s"
        f"{' FOR UPDATE OF t' if lock else ''}"
    )


_TRANSACTION = {lock: _transaction_sql(lock) for lock in (False, True)}


def load_transaction(
    conn: Connection, tenant: str, tx_id: str, *, lock: bool
) -> Transaction | None:
    if conn.dialect.name == "postgresql":
        # One round trip, and none of the query building that SQLAlchemy does per
        # call (about a millisecond of CPU for the two statements below).
        cursor = run(conn, _TRANSACTION[lock], (tenant, tx_id))
        found = cursor.fetchone()
        cursor.close()
        if found is None:
            return None
        lines = [Line(*line) for line in orjson.loads(found[-1] or "[]")]
        return _transaction(dict(zip(_TX_COLUMNS, found, strict=False)), lines)
    query = select(transactions).where(
        transactions.c.tenant_id == tenant, transactions.c.id == tx_id
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _with_lines(conn, tenant, [row])[0]


def list_transactions(
    conn: Connection,
    tenant: str,
    *,
    account: str | None,
    kind: str | None,
    start: datetime | None,
    end: datetime | None,
    after: int | None,
    limit: int,
) -> list[Transaction]:
    t = transactions
    query = select(t).where(t.c.tenant_id == tenant)
    if account is not None:
        p = journal_postings
        touching = select(p.c.seq).where(p.c.tenant_id == tenant, p.c.account_id == account)
        query = query.where(t.c.seq.in_(touching))
    if kind is not None:
        query = query.where(t.c.kind == kind)
    if start is not None:
        query = query.where(t.c.created_at >= start)
    if end is not None:
        query = query.where(t.c.created_at < end)
    if after is not None:
        query = query.where(t.c.seq > after)
    rows = conn.execute(query.order_by(t.c.seq).limit(limit)).all()
    return _with_lines(conn, tenant, rows)


def find_reversal(conn: Connection, tenant: str, tx_id: str) -> str | None:
    """The id of the transaction that reverses ``tx_id``, if any."""
    t = transactions
    row = conn.execute(select(t.c.id).where(t.c.tenant_id == tenant, t.c.reverses == tx_id)).first()
    return None if row is None else str(row.id)


# The status written out, not bound: the planner then knows the query asks only
# for what the partial index of pending holds holds (store/schema.py).
_IS_PENDING = transactions.c.status == literal_column(f"'{PENDING}'")


def due_holds(conn: Connection, tenant: str, now: datetime, limit: int) -> list[str]:
    t = transactions
    rows = conn.execute(
        select(t.c.id)
        .where(t.c.tenant_id == tenant, _IS_PENDING, t.c.expires_at <= now)
        .order_by(t.c.expires_at, t.c.seq)
        .limit(limit)
    )
    return [r.id for r in rows]


_INSERT_TX = Prepared(insert(transactions))


_TX_FINISH = Prepared(
    update(transactions)
    .where(transactions.c.tenant_id == bindparam("t_id"), transactions.c.id == bindparam("x_id"))
    .values(
        status=bindparam("status"),
        pending_amount_posted=bindparam("pending_amount_posted"),
        finished_seq=bindparam("finished_seq"),
    ),
    table=transactions,
    match={"t_id": "tenant_id", "x_id": "id"},
)


# -- idempotency and the outbox ---------------------------------------------------------


_LOAD_KEY = Prepared(
    select(
        idempotency_keys.c.operation,
        idempotency_keys.c.request_hash,
        idempotency_keys.c.response,
    ).where(
        idempotency_keys.c.tenant_id == bindparam("tenant_id"),
        idempotency_keys.c.key == bindparam("key"),
    )
)
_INSERT_KEY = Prepared(insert(idempotency_keys))
_INSERT_EVENT = Prepared(insert(outbox))


def load_key(conn: Connection, tenant: str, key: str) -> StoredKey | None:
    cursor = _LOAD_KEY.execute(conn, {"tenant_id": tenant, "key": key})
    row = cursor.fetchone()
    cursor.close()
    return None if row is None else StoredKey(row[0], row[1], row[2])


def load_keys(conn: Connection, tenant: str, keys: Sequence[str]) -> dict[str, StoredKey]:
    """The stored idempotency keys among ``keys``, in one query."""
    rows = select_in(
        conn, "idempotency_keys", _KEY_COLUMNS,
        {"tenant_id": tenant}, "key", list(keys), lock=False, order_by="key",
    )  # fmt: skip
    return {r["key"]: StoredKey(r["operation"], r["request_hash"], r["response"]) for r in rows}


def write_changes(
    conn: Connection,
    tenant: str,
    *,
    new_accounts: Sequence[Account],
    entries: Sequence[Mapping[str, Any]],
    postings: Sequence[Mapping[str, Any]],
    new_transactions: Sequence[Mapping[str, Any]],
    finished: Sequence[Mapping[str, Any]],
    changed_accounts: Sequence[Account],
    keys: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    head: Head | None,
) -> None:
    """Write what a unit of work changed: one statement on PostgreSQL.

    New accounts, journal entries and their postings, new transactions, holds
    that ended (status, amount posted, the entry that ended them), each changed
    account once (sums, status, limit, metadata, version), idempotency keys,
    outbox events and the chain head. No two parts touch the same row: a
    transaction created and finished in one unit of work is written finished,
    and a new account is written with its latest state.
    """
    execute_together(
        conn,
        [
            (_INSERT_ACCOUNT, [_account_values(tenant, a) for a in new_accounts]),
            (_INSERT_ENTRY, entries),
            (_INSERT_POSTING, postings),
            (_INSERT_TX, new_transactions),
            (_TX_FINISH, finished),
            (_ACCOUNT_UPDATE, [_account_update(tenant, a) for a in changed_accounts]),
            (_INSERT_KEY, keys),
            (_INSERT_EVENT, events),
            (_SAVE_HEAD, [] if head is None else [_head_values(tenant, head)]),
        ],
    )


# The deferred balance checks of the journal's rows (migration 0001), by name.
_CHECKS = "journal_balanced, journal_postings_balanced"


def write_journal_ahead(
    conn: Connection,
    *,
    entries: Sequence[Mapping[str, Any]],
    postings: Sequence[Mapping[str, Any]],
    new_transactions: Sequence[Mapping[str, Any]],
    keys: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
) -> None:
    """Append journal rows before the rest of a unit of work's changes.

    Entries with all their postings, the transactions they create (as they
    stand now), idempotency keys and outbox events: rows that nothing else in
    the unit of work will write again. On PostgreSQL the balance checks of the
    new entries, otherwise run at commit, run right after them (``SET
    CONSTRAINTS ... IMMEDIATE`` checks what is pending, then they are deferred
    again for what follows).
    """
    execute_together(
        conn,
        [
            (_INSERT_ENTRY, entries),
            (_INSERT_POSTING, postings),
            (_INSERT_TX, new_transactions),
            (_INSERT_KEY, keys),
            (_INSERT_EVENT, events),
        ],
    )
    if entries and conn.dialect.name == "postgresql":
        run(conn, f"SET CONSTRAINTS {_CHECKS} IMMEDIATE", None).close()
        run(conn, f"SET CONSTRAINTS {_CHECKS} DEFERRED", None).close()


def list_events(conn: Connection, tenant: str, *, after: int, limit: int) -> list[Row[Any]]:
    query = (
        select(outbox)
        .where(outbox.c.tenant_id == tenant, outbox.c.seq > after)
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return list(conn.execute(query).all())


def count_rows(conn: Connection, tenant: str, table_name: str) -> int:
    table = {"journal": journal, "outbox": outbox, "transactions": transactions}[table_name]
    return int(conn.execute(select(func.count()).where(table.c.tenant_id == tenant)).scalar_one())


def posting_row(tenant: str, seq: int, idx: int, posting: Posting, after: Sums) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "seq": seq,
        "idx": idx,
        "account_id": posting.account,
        "side": posting.side.value,
        "amount": posting.amount,
        "effect": posting.effect.value,
        "posted_debits_after": after.posted_debits,
        "posted_credits_after": after.posted_credits,
        "pending_debits_after": after.pending_debits,
        "pending_credits_after": after.pending_credits,
    }


# -- the event feed, rebuilds and tenants (integrity jobs) -------------------------------


def event_seq(conn: Connection, tenant: str, event_id: str) -> int | None:
    """The outbox sequence of one of the tenant's events; ``None`` when it has no such event."""
    found = conn.execute(
        select(outbox.c.seq).where(outbox.c.tenant_id == tenant, outbox.c.id == event_id)
    ).first()
    return None if found is None else int(found.seq)


def feed_events(
    conn: Connection, tenant: str, *, after: int, types: Sequence[str] | None, limit: int
) -> list[Row[Any]]:
    """The tenant's events after outbox sequence ``after``, in commit order, of ``types``."""
    query = select(outbox).where(outbox.c.tenant_id == tenant, outbox.c.seq > after)
    if types:
        query = query.where(outbox.c.type.in_(list(types)))
    return list(conn.execute(query.order_by(outbox.c.seq).limit(limit)).all())


def restore_sums(conn: Connection, tenant: str, account_id: str, sums: Sums, now: datetime) -> None:
    """Overwrite an account's running sums with replayed ones, as a new version."""
    conn.execute(
        update(accounts)
        .where(accounts.c.tenant_id == tenant, accounts.c.id == account_id)
        .values(
            posted_debits=sums.posted_debits,
            posted_credits=sums.posted_credits,
            pending_debits=sums.pending_debits,
            pending_credits=sums.pending_credits,
            version=accounts.c.version + 1,
            updated_at=now,
        )
    )


def entry_link(conn: Connection, tenant: str, seq: int) -> tuple[str, datetime] | None:
    """The hash and time of the tenant's journal entry ``seq``, if there is one."""
    found = conn.execute(
        select(journal.c.hash, journal.c.created_at).where(
            journal.c.tenant_id == tenant, journal.c.seq == seq
        )
    ).first()
    return None if found is None else (str(found.hash), found.created_at)


def tenant_ids(conn: Connection) -> list[str]:
    """Every tenant that has a ledger, in id order."""
    query = select(ledger_heads.c.tenant_id).order_by(ledger_heads.c.tenant_id)
    return [str(r.tenant_id) for r in conn.execute(query)]


def tenants_with_due_holds(conn: Connection, now: datetime) -> list[str]:
    """Tenants that have at least one pending hold past its deadline."""
    t = transactions
    rows = conn.execute(select(t.c.tenant_id).where(_IS_PENDING, t.c.expires_at <= now).distinct())
    return [r.tenant_id for r in rows]
