"""Stored JSON is written by orjson and must read exactly as ``json`` would write it.

Stored documents (metadata, event data, idempotent responses) were written by
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
before; rows old and new are compared as text in places, so the bytes must not
change.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.domain.accounts import Side
from strongroom.domain.chain import GENESIS, Entry, canonical, json_bytes, link
from strongroom.domain.money import MAX_AMOUNT
from strongroom.domain.transactions import Effect, EntryType, Posting
from strongroom.engine.uow import request_hash
from strongroom.store.prepared import _document
from strongroom.store.queries import dumps, dumps_bytes

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=500)
@given(VALUES)
def test_stored_json_is_byte_for_byte_what_json_writes(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert dumps(value) == expected


def test_control_characters_and_unicode_are_written_as_json_writes_them() -> None:
    value = {"é": '\x00\x1f\n\t"\\/\u2028\u2029\U0001f600', "a": ["\x7f"]}
    assert dumps(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_bulk_documents_carry_times_as_rfc_3339_and_refuse_naive_ones() -> None:
    moment = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    rows = [{"at": moment, "n": 1}, {"at": moment.replace(microsecond=0), "n": 2}]
    assert json.loads(_document(rows)) == [
        {"at": "2026-11-23T01:02:03.456789+00:00", "n": 1},
        {"at": "2026-11-23T01:02:03+00:00", "n": 2},
    ]
    with pytest.raises(TypeError) as refused:  # orjson's error, caused by ours
        _document([{"at": datetime(2026, 1, 1)}])
    assert isinstance(refused.value.__cause__, ValueError)
    assert "naive" in str(refused.value.__cause__)


def test_bulk_documents_take_any_mapping_as_a_row() -> None:
    """Rows are written as given, without a copy; a row that is another kind of
    mapping than a dict is written as the dict it holds."""
    moment = datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC)
    rows = (MappingProxyType({"at": moment, "n": 1}), {"n": 2})
    assert json.loads(_document(rows)) == [{"at": "2026-11-23T01:02:03+00:00", "n": 1}, {"n": 2}]
    assert json.loads(_document(iter([{"n": 3}]))) == [{"n": 3}]


MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
)
ENTRIES = st.builds(
    Entry,
    tenant=TEXT,
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    transaction_id=TEXT,
    type=st.sampled_from(EntryType),
    currency=TEXT,
    postings=st.lists(
        st.builds(
            Posting,
            account=TEXT,
            side=st.sampled_from(Side),
            amount=st.integers(min_value=1, max_value=MAX_AMOUNT),
            effect=st.sampled_from(Effect),
        ),
        max_size=6,
    ),
    description=TEXT,
    kind=st.none() | TEXT,
    metadata=st.dictionaries(TEXT, TEXT, max_size=5),
    reverses=st.none() | TEXT,
    expires_at=st.none() | MOMENTS,
    created_at=MOMENTS,
)


@settings(max_examples=500)
@given(ENTRIES)
def test_the_engine_hashes_entries_over_the_canonical_bytes(entry: Entry) -> None:
    """The engine's encoder writes each entry's canonical form exactly as its definition
    (``json.dumps``) does; ``verify`` hashes with the definition, so any difference
    would show as a broken chain."""
    assert canonical(entry, dumps_bytes) == canonical(entry, json_bytes)
    assert link(GENESIS, entry, dumps_bytes) == link(GENESIS, entry)


def test_canonical_times_are_utc_with_microseconds() -> None:
    moment = datetime(2026, 11, 23, 1, 2, 3, tzinfo=timezone(timedelta(hours=2)))
    entry = Entry("t", 1, "tx_1", EntryType.POSTED, "USD", [], "", None, {}, None, moment, moment)
    body = json.loads(canonical(entry))
    assert body["at"] == body["expires_at"] == "2026-11-22T23:02:03.000000Z"


def _stored_digest(operation: str, request: Any) -> str:
    """How request digests were made, and are stored with every idempotency key."""
    body = json.dumps([operation, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@settings(max_examples=500)
@given(TEXT, st.dictionaries(TEXT, VALUES, max_size=6))
def test_request_digests_are_those_stored_with_keys(operation: str, request: Any) -> None:
    """A replay after an upgrade must still match its stored key: the digest of a
    request, ASCII or not, is the one json.dumps (escaping non-ASCII) gave."""
    assert request_hash(operation, request) == _stored_digest(operation, request)


def test_request_digests_of_text_beyond_ascii() -> None:
    request = {"description": "caf\u00e9 \U0001f600", "metadata": {"\u00e9": "\x7f"}}
    assert request_hash("transfer", request) == _stored_digest("transfer", request)


def test_request_digests_of_ascii_control_characters() -> None:
    """DEL is ASCII, and json.dumps escapes it; so do the digests of keyed requests."""
    for text in ("\x7f", "a\x7fb", "\x00\x1f\n\t"):
        request = {"description": text}
        assert request_hash("transfer", request) == _stored_digest("transfer", request)
