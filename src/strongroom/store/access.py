"""SQL of tenants and API keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.engine import Row

from strongroom.store.schema import access_epoch, api_keys, tenants


def count_tenants(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(tenants)).scalar_one())


def get_tenant(conn: Connection, tenant: str) -> Row[Any] | None:
    return conn.execute(select(tenants).where(tenants.c.id == tenant)).first()


def find_tenant(conn: Connection, ref: str) -> Row[Any] | None:
    """The tenant whose id is ``ref``, else the one whose name is ``ref``."""
    found = get_tenant(conn, ref)
    if found is None:
        found = conn.execute(select(tenants).where(tenants.c.name == ref)).first()
    return found


def list_tenants(conn: Connection, *, after: str | None, limit: int) -> Sequence[Row[Any]]:
    """Tenants in id order, after the id ``after``."""
    query = select(tenants)
    if after is not None:
        query = query.where(tenants.c.id > after)
    return conn.execute(query.order_by(tenants.c.id).limit(limit)).all()


def count_keys(conn: Connection, tenant: str, now: datetime) -> tuple[int, int]:
    """(keys that authenticate now, keys ever made) of a tenant."""
    k = api_keys.c
    live = (k.revoked_at.is_(None)) & ((k.expires_at.is_(None)) | (k.expires_at > now))
    row = conn.execute(
        select(func.count(), func.count().filter(live)).where(k.tenant_id == tenant)
    ).one()
    return int(row[1]), int(row[0])


def insert_key(conn: Connection, values: dict[str, Any]) -> None:
    row = dict(values)
    row["scopes"] = json.dumps(list(row["scopes"]))
    conn.execute(insert(api_keys).values(**row))


def key_by_hash(conn: Connection, key_hash: str) -> Row[Any] | None:
    return conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()


def list_keys(
    conn: Connection, tenant: str, *, after: str | None, limit: int
) -> Sequence[Row[Any]]:
    query = select(api_keys).where(api_keys.c.tenant_id == tenant)
    if after is not None:
        query = query.where(api_keys.c.id > after)
    return conn.execute(query.order_by(api_keys.c.id).limit(limit)).all()


def revoke_key(conn: Connection, tenant: str, key_id: str, now: datetime) -> Row[Any] | None:
    """Revoke (once: the first revocation time is kept); None when not found.

    A revocation also moves the revocation epoch, in the same transaction, so
    every server's key cache drops what it knew.
    """
    revoked = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.tenant_id == tenant, api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    if revoked.rowcount:
        conn.execute(
            update(access_epoch)
            .where(access_epoch.c.id == 1)
            .values(revocations=access_epoch.c.revocations + 1)
        )
    return conn.execute(
        select(api_keys).where(api_keys.c.tenant_id == tenant, api_keys.c.id == key_id)
    ).first()


def touch_key(conn: Connection, tenant: str, key_id: str, now: datetime, before: datetime) -> None:
    """Record a use, at most once per interval (only when the last is older than ``before``)."""
    conn.execute(
        update(api_keys)
        .where(
            api_keys.c.tenant_id == tenant,
            api_keys.c.id == key_id,
            (api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < before),
        )
        .values(last_used_at=now)
    )


def revocation_epoch(conn: Connection) -> int:
    """How many keys were ever revoked: it moves with every revocation."""
    return int(
        conn.execute(select(access_epoch.c.revocations).where(access_epoch.c.id == 1)).scalar_one()
    )
