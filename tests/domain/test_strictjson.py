"""Strict JSON: what json.loads lets through is refused; everything else decodes as it does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain import strictjson

REFUSED = {
    "duplicate-key": b'{"amount": 5, "amount": 7}',
    "duplicate-nested-key": b'{"a": {"k": 1, "k": 1}}',
    "lone-high-surrogate": b'["\\ud800"]',
    "lone-low-surrogate": b'["\\udfff"]',
    "surrogate-in-key": b'{"\\ud800": 1}',
    "reversed-pair": b'["\\ude00\\ud83d"]',
    "nan": b"[NaN]",
    "infinity": b"[Infinity]",
    "minus-infinity": b"[-Infinity]",
    "overflowing-float": b"[1e400]",
    "depth-65": b"[" * 65 + b"]" * 65,
    "depth-65-objects": b'{"a":' * 65 + b"1" + b"}" * 65,
    "depth-65-mixed": b'[{"a":' * 32 + b"[1]" + b"}]" * 32,
    "depth-1000": b"[" * 1000 + b"]" * 1000,
    "unclosed-100000": b"[" * 100_000,
    "not-utf8": b'["\xff"]',
    "utf8-bom": b'\xef\xbb\xbf["a"]',
    "trailing-data": b'{"a": 1} {}',
    "raw-control-character": b'["a\x01"]',
    "empty": b"",
    "huge-integer": b"1" * 5000,
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_text_that_is_not_strict_json_is_refused(text: bytes) -> None:
    """Each way json.loads is lenient, or the text is not JSON at all, raises StrictJsonError."""
    with pytest.raises(strictjson.StrictJsonError):
        strictjson.loads(text)


ACCEPTED = {
    "object": b'{"from": "a", "to": "b", "amount": 5, "metadata": {"k": "v"}}',
    "same-key-in-two-objects": b'[{"k": 1}, {"k": 2}]',
    "surrogate-pair": b'["\\ud83d\\ude00"]',
    "escaped-backslash-then-u": b'["\\\\ud800"]',
    "depth-64": b"[" * 64 + b"]" * 64,
    "depth-64-mixed": b'[{"a":' * 32 + b"1" + b"}]" * 32,
    "wide-and-shallow": b"[" + b",".join([b"[[1]]"] * 500) + b"]",
    "float": b"[1.5e300, -0.0]",
    "scalar": b"7",
    "non-ascii": '["é", "😀"]'.encode(),
}


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_strict_json_decodes_as_json_loads_does(text: bytes) -> None:
    """Strict JSON text gives the same value json.loads gives."""
    assert strictjson.loads(text) == json.loads(text)


def test_a_str_holding_a_surrogate_itself_is_refused() -> None:
    """A str (not bytes) with a raw lone surrogate is refused like an escaped one."""
    with pytest.raises(strictjson.StrictJsonError):
        strictjson.loads('["\ud800"]')


def test_the_error_names_the_duplicate_key() -> None:
    """The message says which key came twice."""
    with pytest.raises(strictjson.StrictJsonError, match="'amount'"):
        strictjson.loads(b'{"amount": 5, "amount": 7}')


def test_the_error_is_a_value_error() -> None:
    """Callers that catch ValueError (as json.JSONDecodeError is one) catch it too."""
    value: Any = strictjson.StrictJsonError("x")
    assert isinstance(value, ValueError)


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


PIECES = [
    "\ud83d",
    "\udbff",
    "\ude00",
    "\udfff",
    "\U0001f600",
    "a",
    "\\",
    '"',
    "\\ude00",
    "\\ud83d",
]
"""Surrogates alone, in order or not; a pair; and text that looks like their escapes."""


@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=6).map("".join), max_size=4))
def test_a_surrogate_is_refused_exactly_when_it_is_left_alone(strings: list[str]) -> None:
    """Escaped text is refused if and only if json.loads would give a lone surrogate."""
    text = json.dumps(strings, ensure_ascii=True)
    if _encodable(json.loads(text)):  # "\ud800" then "\udc00" join into U+10000
        assert strictjson.loads(text.encode()) == json.loads(text)
    else:
        with pytest.raises(strictjson.StrictJsonError):
            strictjson.loads(text.encode())
