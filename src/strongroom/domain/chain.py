"""The canonical form of a journal entry and the hash chain over them.

Each entry's hash is ``sha256(previous hash || canonical form)``; the first
entry of a tenant's chain follows :data:`GENESIS`. The canonical form is JSON
with sorted keys, no insignificant white space, UTF-8, integers as integers and
times as RFC 3339 with microseconds: the same entry always gives the same bytes,
on every backend and every platform. It covers everything the entry says: its
tenant, sequence, transaction, type, currency, postings in order, description,
kind, metadata, links and time. Changing, removing or reordering any entry breaks
every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strongroom.domain.transactions import EntryType, Posting

GENESIS = "0" * 64
CANONICAL_VERSION = 1

Encode = Callable[[dict[str, Any]], bytes]
"""Writes a canonical body as bytes. :func:`json_bytes` is the definition; another
encoder (the engine's is orjson's) must write exactly the same bytes."""


def json_bytes(body: dict[str, Any]) -> bytes:
    """JSON with sorted keys, no insignificant white space, UTF-8 as is."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry, as hashed."""

    tenant: str
    seq: int
    transaction_id: str
    type: EntryType
    currency: str
    postings: Sequence[Posting]
    description: str
    kind: str | None
    metadata: Mapping[str, str]
    reverses: str | None
    expires_at: datetime | None
    created_at: datetime


def _time(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC, always with microseconds: ``2026-11-23T01:02:03.000000Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return f"{moment.isoformat(timespec='microseconds')[:-6]}Z"


def canonical(entry: Entry, encode: Encode = json_bytes) -> bytes:
    return encode(
        {
            "v": CANONICAL_VERSION,
            "tenant": entry.tenant,
            "seq": entry.seq,
            "tx": entry.transaction_id,
            "type": entry.type.value,
            "currency": entry.currency,
            "postings": [
                [p.account, p.side.value, p.amount, p.effect.value] for p in entry.postings
            ],
            "description": entry.description,
            "kind": entry.kind,
            "metadata": dict(entry.metadata),
            "reverses": entry.reverses,
            "expires_at": _time(entry.expires_at),
            "at": _time(entry.created_at),
        }
    )


def link(prev_hash: str, entry: Entry, encode: Encode = json_bytes) -> str:
    """The hash of ``entry`` chained to ``prev_hash`` (both lowercase hex)."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical(entry, encode))
    return digest.hexdigest()
