"""The event feed: a tenant's outbox read in commit order, for consumers that pull.

Events carry a per-tenant sequence assigned under the tenant's chain-head lock,
so the sequence order is the commit order and has no gaps: a reader that saw
event ``n`` has seen every event before it, and resuming "after ``n``" never
skips one that commits later. A position is given as an event id (``evt_...``,
the last one the consumer handled) or as a cursor the feed returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from strongroom.domain.errors import ValidationError
from strongroom.engine.pages import Page, decode_cursor, page_of
from strongroom.store import queries as q

CURSOR_KIND = "events"
MAX_TYPES = 50
_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_EVENT_ID = re.compile(r"evt_[A-Za-z0-9]{1,36}")


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox event; ``seq`` is its place in the tenant's commit order."""

    id: str
    seq: int
    type: str
    created_at: datetime
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "created_at": self.created_at, "data": self.data}


def check_types(types: Sequence[str] | str | None) -> list[str] | None:
    """Event types to keep (``"a,b"`` or a list); ``None`` or empty keeps every type."""
    if types is None:
        return None
    raw = types.split(",") if isinstance(types, str) else list(types)
    if any(not isinstance(t, str) for t in raw):
        raise ValidationError("event types are strings", loc=("types",))
    wanted = sorted({t.strip() for t in raw if t.strip()})
    if len(wanted) > MAX_TYPES:
        raise ValidationError(f"at most {MAX_TYPES} event types", loc=("types",))
    for name in wanted:
        if not _TYPE.fullmatch(name):
            raise ValidationError(f"{name[:80]!r} is not an event type", loc=("types",))
    return wanted or None


def position(conn: Connection, tenant: str, after: str | None) -> int:
    """The outbox sequence that ``after`` (an event id or a feed cursor) stands for.

    An unknown event id, which includes another tenant's, is a VALIDATION_ERROR
    on ``after``: the same answer for both, so nothing leaks between tenants.
    """
    if after is None or after == "":
        return 0
    if not isinstance(after, str):
        raise ValidationError("after is an event id or a cursor", loc=("after",))
    if after.startswith("evt_"):
        # An id of another form (a NUL byte, too long) cannot exist: no query for it.
        seq = q.event_seq(conn, tenant, after) if _EVENT_ID.fullmatch(after) else None
        if seq is None:
            raise ValidationError("after: no such event", loc=("after",))
        return seq
    try:
        seq = decode_cursor(after, CURSOR_KIND)
    except ValidationError:
        detail = "after is neither an event id nor a cursor of the event feed"
        raise ValidationError(detail, loc=("after",)) from None
    if type(seq) is not int or not 0 <= seq < 2**63:
        raise ValidationError("invalid cursor", loc=("after",))
    return seq


def read_page(
    conn: Connection, tenant: str, *, after: str | None, types: list[str] | None, limit: int
) -> Page[Event]:
    """Up to ``limit`` events after ``after``, of ``types``, in commit order."""
    start = position(conn, tenant, after)
    rows = q.feed_events(conn, tenant, after=start, types=types, limit=limit + 1)
    events = [Event(r.id, r.seq, r.type, r.created_at, json.loads(r.data)) for r in rows]
    return page_of(events, limit, CURSOR_KIND, lambda e: e.seq)
