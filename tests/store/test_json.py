"""Stored JSON is written by orjson and must read exactly as ``json`` would write it.

Stored documents (metadata, event data, idempotent responses) were written by
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
before; rows old and new are compared as text in places, so the bytes must not
change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.store.prepared import _document
from strongroom.store.queries import dumps

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
