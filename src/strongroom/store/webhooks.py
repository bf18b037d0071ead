"""SQL of events out: webhook endpoints, deliveries and attempts, relay cursors, jobs.

Workers share the work through the database. A cursor row per tenant and sink
says how far the sink has taken in the tenant's outbox; a delivery row says when
its next attempt is due. Both are claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite has one writer at a time, so the clause is left out) and
held by a lease: a worker killed mid-attempt loses its claim when the lease
ends, and another worker takes it over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from strongroom.store.schema import (
    ledger_heads,
    outbox,
    relay_cursors,
    scheduled_jobs,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)

E = webhook_endpoints
D = webhook_deliveries


# -- endpoints ---------------------------------------------------------------------------


def insert_endpoint(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(E).values(**values))


def get_endpoint(conn: Connection, tenant: str, endpoint_id: str) -> Row[Any] | None:
    """A live (not deleted) endpoint of the tenant, or None."""
    return conn.execute(
        select(E).where(E.c.tenant_id == tenant, E.c.id == endpoint_id, E.c.deleted_at.is_(None))
    ).first()


def list_endpoints(
    conn: Connection, tenant: str, *, after: str | None, limit: int
) -> Sequence[Row[Any]]:
    query = select(E).where(E.c.tenant_id == tenant, E.c.deleted_at.is_(None))
    if after is not None:
        query = query.where(E.c.id > after)
    return conn.execute(query.order_by(E.c.id).limit(limit)).all()


def update_endpoint(
    conn: Connection, tenant: str, endpoint_id: str, values: Mapping[str, Any]
) -> bool:
    result = conn.execute(
        update(E)
        .where(E.c.tenant_id == tenant, E.c.id == endpoint_id, E.c.deleted_at.is_(None))
        .values(**values)
    )
    return result.rowcount == 1


def enabled_endpoints(conn: Connection, tenant: str) -> Sequence[Row[Any]]:
    return conn.execute(
        select(E.c.id, E.c.events, E.c.after_seq).where(
            E.c.tenant_id == tenant, E.c.status == "enabled", E.c.deleted_at.is_(None)
        )
    ).all()


def event_head(conn: Connection, tenant: str) -> int:
    """The tenant's last event sequence (0 before the first event)."""
    seq = conn.execute(
        select(ledger_heads.c.event_seq).where(ledger_heads.c.tenant_id == tenant)
    ).scalar()
    return int(seq or 0)


# -- relay cursors -----------------------------------------------------------------------


def tenants_behind(conn: Connection, sink: str, *, limit: int = 1000) -> list[str]:
    """Tenants with events that ``sink`` has not taken in yet."""
    cursor = relay_cursors
    query = (
        select(ledger_heads.c.tenant_id)
        .select_from(
            ledger_heads.outerjoin(
                cursor,
                and_(cursor.c.tenant_id == ledger_heads.c.tenant_id, cursor.c.sink == sink),
            )
        )
        .where(ledger_heads.c.event_seq > func.coalesce(cursor.c.seq, 0))
        .order_by(ledger_heads.c.tenant_id)
        .limit(limit)
    )
    return [r.tenant_id for r in conn.execute(query)]


def _ensure_cursor(conn: Connection, tenant: str, sink: str, now: datetime) -> None:
    exists = conn.execute(
        select(relay_cursors.c.seq).where(
            relay_cursors.c.tenant_id == tenant, relay_cursors.c.sink == sink
        )
    ).first()
    if exists is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(relay_cursors).values(tenant_id=tenant, sink=sink, seq=0, updated_at=now)
            )
    except IntegrityError:
        pass  # another worker made it first


def lock_cursor(conn: Connection, tenant: str, sink: str, now: datetime) -> int | None:
    """Lock the cursor for this transaction; None when another worker holds it.

    A cursor under a live lease (see ``lease_cursor``) counts as held.
    """
    _ensure_cursor(conn, tenant, sink, now)
    row = conn.execute(
        select(relay_cursors.c.seq)
        .where(
            relay_cursors.c.tenant_id == tenant,
            relay_cursors.c.sink == sink,
            or_(relay_cursors.c.lease_until.is_(None), relay_cursors.c.lease_until <= now),
        )
        .with_for_update(skip_locked=True)
    ).first()
    return None if row is None else int(row.seq)


def lease_cursor(
    conn: Connection, tenant: str, sink: str, owner: str, now: datetime, until: datetime
) -> int | None:
    """Claim the cursor until ``until`` (work outside a transaction); None if held."""
    seq = lock_cursor(conn, tenant, sink, now)
    if seq is None:
        return None
    conn.execute(
        update(relay_cursors)
        .where(relay_cursors.c.tenant_id == tenant, relay_cursors.c.sink == sink)
        .values(lease_owner=owner, lease_until=until)
    )
    return seq


def advance_cursor(
    conn: Connection, tenant: str, sink: str, seq: int, now: datetime, *, owner: str | None
) -> bool:
    """Move the cursor to ``seq`` and end the lease; False when ``owner`` lost its lease."""
    where = [relay_cursors.c.tenant_id == tenant, relay_cursors.c.sink == sink]
    if owner is not None:
        where.append(relay_cursors.c.lease_owner == owner)
    result = conn.execute(
        update(relay_cursors)
        .where(*where)
        .values(seq=seq, lease_owner=None, lease_until=None, updated_at=now)
    )
    return result.rowcount == 1


def release_cursor(conn: Connection, tenant: str, sink: str, owner: str) -> None:
    conn.execute(
        update(relay_cursors)
        .where(
            relay_cursors.c.tenant_id == tenant,
            relay_cursors.c.sink == sink,
            relay_cursors.c.lease_owner == owner,
        )
        .values(lease_owner=None, lease_until=None)
    )


def events_after(conn: Connection, tenant: str, after: int, limit: int) -> Sequence[Row[Any]]:
    return conn.execute(
        select(outbox)
        .where(outbox.c.tenant_id == tenant, outbox.c.seq > after)
        .order_by(outbox.c.seq)
        .limit(limit)
    ).all()


# -- deliveries --------------------------------------------------------------------------


def insert_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(D), list(rows))


def any_due(conn: Connection, now: datetime) -> bool:
    """Whether some pending delivery's attempt is due (claimed or not)."""
    found = conn.execute(
        select(D.c.id).where(D.c.status == "pending", D.c.next_attempt_at <= now).limit(1)
    ).first()
    return found is not None


def claim_due(
    conn: Connection, now: datetime, *, owner: str, until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Claim up to ``limit`` due deliveries of enabled endpoints: (tenant, id) pairs."""
    query = (
        select(D.c.tenant_id, D.c.id)
        .select_from(D.join(E, and_(E.c.tenant_id == D.c.tenant_id, E.c.id == D.c.endpoint_id)))
        .where(
            D.c.status == "pending",
            D.c.next_attempt_at <= now,
            or_(D.c.lease_until.is_(None), D.c.lease_until <= now),
            E.c.status == "enabled",
            E.c.deleted_at.is_(None),
        )
        .order_by(D.c.next_attempt_at, D.c.event_seq)
        .limit(limit)
        .with_for_update(skip_locked=True, of=D)
    )
    claimed = [(r.tenant_id, r.id) for r in conn.execute(query)]
    for tenant, delivery_id in claimed:
        conn.execute(
            update(D)
            .where(D.c.tenant_id == tenant, D.c.id == delivery_id)
            .values(lease_owner=owner, lease_until=until)
        )
    return claimed


def claimed_details(conn: Connection, pairs: Sequence[tuple[str, str]]) -> Sequence[Row[Any]]:
    """The claimed deliveries with what sending needs: the endpoint and the event."""
    if not pairs:
        return []
    query = (
        select(
            D.c.tenant_id,
            D.c.id,
            D.c.endpoint_id,
            D.c.event_seq,
            D.c.event_id,
            D.c.event_type,
            D.c.attempts,
            D.c.round_attempts,
            E.c.url,
            E.c.secret,
            E.c.previous_secret,
            E.c.previous_secret_until,
            outbox.c.created_at.label("event_created_at"),
            outbox.c.data.label("event_data"),
        )
        .select_from(
            D.join(E, and_(E.c.tenant_id == D.c.tenant_id, E.c.id == D.c.endpoint_id)).join(
                outbox, and_(outbox.c.tenant_id == D.c.tenant_id, outbox.c.seq == D.c.event_seq)
            )
        )
        .where(or_(*(and_(D.c.tenant_id == t, D.c.id == i) for t, i in pairs)))
    )
    return conn.execute(query).all()


def record_attempt(
    conn: Connection,
    tenant: str,
    delivery_id: str,
    owner: str,
    attempt: Mapping[str, Any],
    values: Mapping[str, Any],
) -> bool:
    """Store an attempt's outcome, if ``owner`` still holds the delivery's lease."""
    result = conn.execute(
        update(D)
        .where(D.c.tenant_id == tenant, D.c.id == delivery_id, D.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, **values)
    )
    if result.rowcount != 1:
        return False
    conn.execute(
        insert(webhook_attempts).values(tenant_id=tenant, delivery_id=delivery_id, **attempt)
    )
    return True


def get_delivery(conn: Connection, tenant: str, delivery_id: str) -> Row[Any] | None:
    return conn.execute(select(D).where(D.c.tenant_id == tenant, D.c.id == delivery_id)).first()


def list_deliveries(
    conn: Connection,
    tenant: str,
    endpoint_id: str,
    *,
    status: str | None,
    before_seq: int | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """An endpoint's deliveries, newest event first."""
    query = select(D).where(D.c.tenant_id == tenant, D.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(D.c.status == status)
    if before_seq is not None:
        query = query.where(D.c.event_seq < before_seq)
    return conn.execute(query.order_by(D.c.event_seq.desc()).limit(limit)).all()


def attempts_of(conn: Connection, tenant: str, delivery_ids: Sequence[str]) -> Sequence[Row[Any]]:
    if not delivery_ids:
        return []
    A = webhook_attempts
    return conn.execute(
        select(A)
        .where(A.c.tenant_id == tenant, A.c.delivery_id.in_(list(delivery_ids)))
        .order_by(A.c.delivery_id, A.c.number)
    ).all()


def update_delivery(
    conn: Connection, tenant: str, delivery_id: str, values: Mapping[str, Any]
) -> None:
    conn.execute(update(D).where(D.c.tenant_id == tenant, D.c.id == delivery_id).values(**values))


def count_deliveries(conn: Connection, tenant: str | None = None) -> dict[str, int]:
    """Deliveries by status (of one tenant, or of all)."""
    query = select(D.c.status, func.count()).group_by(D.c.status)
    if tenant is not None:
        query = query.where(D.c.tenant_id == tenant)
    return {status: int(n) for status, n in conn.execute(query).all()}


# -- scheduled jobs ----------------------------------------------------------------------


def claim_job(conn: Connection, name: str, now: datetime, next_run: datetime) -> bool:
    """Take the job's run that is due now; False when it is not due or another took it.

    The conditional update is the claim: of two workers, one sees a row count of 1.
    """
    exists = conn.execute(
        select(scheduled_jobs.c.name).where(scheduled_jobs.c.name == name)
    ).first()
    if exists is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(scheduled_jobs).values(
                        name=name, next_run_at=next_run, last_started_at=now
                    )
                )
            return True
        except IntegrityError:
            return False
    result = conn.execute(
        update(scheduled_jobs)
        .where(scheduled_jobs.c.name == name, scheduled_jobs.c.next_run_at <= now)
        .values(next_run_at=next_run, last_started_at=now)
    )
    return result.rowcount == 1


def finish_job(conn: Connection, name: str, now: datetime, ok: bool, detail: str) -> None:
    conn.execute(
        update(scheduled_jobs)
        .where(scheduled_jobs.c.name == name)
        .values(last_finished_at=now, last_ok=int(ok), last_detail=detail)
    )


def list_jobs(conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(select(scheduled_jobs).order_by(scheduled_jobs.c.name)).all()
