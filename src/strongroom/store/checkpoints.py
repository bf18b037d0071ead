"""SQL of signed checkpoints of the chain head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select
from sqlalchemy.engine import Row

from strongroom.store.schema import checkpoints


def find(conn: Connection, tenant: str, seq: int, key_id: str) -> Row[Any] | None:
    c = checkpoints
    query = select(c).where(c.c.tenant_id == tenant, c.c.seq == seq, c.c.key_id == key_id)
    return conn.execute(query).first()


def insert_checkpoint(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(checkpoints).values(**values))


def list_checkpoints(
    conn: Connection, tenant: str, *, after: tuple[int, str] | None, limit: int
) -> list[Row[Any]]:
    """The tenant's checkpoints in (seq, key_id) order, after the position ``after``."""
    c = checkpoints
    query = select(c).where(c.c.tenant_id == tenant)
    if after is not None:
        seq, key_id = after
        query = query.where(or_(c.c.seq > seq, and_(c.c.seq == seq, c.c.key_id > key_id)))
    return list(conn.execute(query.order_by(c.c.seq, c.c.key_id).limit(limit)).all())
