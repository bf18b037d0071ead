"""Which tenant a caller means: by id or by name, and the default one.

A tenant has an id (``tn_...`` when the server or the CLI made it; the name
itself when ``Ledger.open(url, tenant="acme")`` made it) and a unique name.
Every place that takes a tenant from a person (``--tenant``, ``Ledger.open``)
takes either. Without one, the default tenant is the database's only tenant,
or else the one whose id or name is ``default``.

A tenant that does not exist is created only where the caller asked for it, or
on a database with no tenant at all: otherwise a typo would open empty books.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from strongroom.domain.errors import NotFound, ValidationError
from strongroom.store import access as sql

DEFAULT_TENANT = "default"
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""What a tenant id may be (matched in full): it appears in event subjects and URLs."""
_LISTED = 10


def check_tenant_id(tenant: object) -> str:
    if not isinstance(tenant, str) or not TENANT_ID.fullmatch(tenant):
        raise ValidationError(
            "a tenant id is 1 to 64 letters, digits, '_', '.' or '-'", loc=("tenant",)
        )
    return tenant


@dataclass(frozen=True, slots=True)
class Choice:
    """The tenant a caller meant: its id, and whether it must be created first."""

    id: str
    create: bool = False


def choose_tenant(conn: Connection, ref: str | None, *, create: bool | None) -> Choice:
    """The tenant ``ref`` (an id or a name; None: the default tenant) on ``conn``.

    ``create``: True creates a missing tenant, False never does, None creates
    one only on a database that has no tenant yet. A missing tenant that is not
    to be created raises NOT_FOUND naming the tenants that exist.
    """
    if ref is not None:
        if not isinstance(ref, str) or not ref.isprintable() or not ref.strip():
            raise ValidationError("a tenant is named by its id or its name", loc=("tenant",))
        found = sql.find_tenant(conn, ref)
        if found is not None:
            return Choice(found.id)
    existing = sql.list_tenants(conn, after=None, limit=_LISTED + 1)
    if ref is None:
        if len(existing) == 1:
            return Choice(existing[0].id)
        default = sql.find_tenant(conn, DEFAULT_TENANT)
        if default is not None:
            return Choice(default.id)
    if create or (create is None and not existing):
        return Choice(check_tenant_id(ref or DEFAULT_TENANT), create=True)
    raise NotFound(_missing(ref, existing), tenants=[_label(r.id, r.name) for r in existing])


def _label(tenant_id: str, name: str) -> str:
    return tenant_id if name == tenant_id else f"{name} ({tenant_id})"


def _missing(ref: str | None, rows: Sequence[Row[Any]]) -> str:
    if not rows:
        what = "no tenant" if ref is None else f"no tenant {ref!r}"
        return f"the database has {what}: create one with `strongroom tenants create NAME`"
    shown = ", ".join(_label(r.id, r.name) for r in rows[:_LISTED])
    more = " and more (strongroom tenants list)" if len(rows) > _LISTED else ""
    if ref is None:
        return f"the database has several tenants; name one (--tenant): {shown}{more}"
    return f"no tenant {ref!r}; the database has: {shown}{more}"
