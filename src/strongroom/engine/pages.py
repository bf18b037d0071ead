"""Cursor pagination: opaque cursors, bounded page sizes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from strongroom.domain import strictjson
from strongroom.domain.errors import ValidationError

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is ``None`` on the last page."""

    data: list[T]
    next_cursor: str | None


def check_limit(limit: Any) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}", loc=("limit",))
    return limit


def encode_cursor(kind: str, position: Any) -> str:
    raw = json.dumps([kind, position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_SHAPES: dict[str, Callable[[Any], bool]] = {
    "accounts": lambda p: isinstance(p, str) and "\x00" not in p,
    "api_keys": lambda p: isinstance(p, str) and "\x00" not in p,
    "tenants": lambda p: isinstance(p, str) and "\x00" not in p,
    "webhook_endpoints": lambda p: isinstance(p, str) and "\x00" not in p,
    "transactions": lambda p: type(p) is int and 0 <= p < 2**63,
    "statement": lambda p: (
        isinstance(p, list) and len(p) == 2 and all(type(x) is int and 0 <= x < 2**63 for x in p)
    ),
    "checkpoints": lambda p: (
        isinstance(p, list)
        and len(p) == 2
        and type(p[0]) is int
        and isinstance(p[1], str)
        and "\x00" not in p[1]
    ),
}
_INT = _SHAPES["transactions"]  # lists positioned by a sequence number (events, ...)


def decode_cursor(cursor: str | None, kind: str) -> Any:
    """The position inside ``cursor``; garbage, a forged position, or a cursor of
    another list is refused with VALIDATION_ERROR.

    The JSON inside is decoded strictly (:mod:`strongroom.domain.strictjson`): a
    lone surrogate, deep nesting or a duplicate key is refused, not passed on.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, position = strictjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise ValidationError("invalid cursor", loc=("cursor",)) from None
    if found_kind != kind:
        raise ValidationError("this cursor belongs to another list", loc=("cursor",))
    if not _SHAPES.get(kind, _INT)(position):
        raise ValidationError("invalid cursor", loc=("cursor",))
    return position


def page_of(rows: Sequence[T], limit: int, kind: str, position: Any) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra row says there is more."""
    data = list(rows[:limit])
    more = len(rows) > limit
    return Page(data, encode_cursor(kind, position(data[-1])) if more and data else None)
