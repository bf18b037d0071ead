"""Cursors: a cursor the server did not issue is a VALIDATION_ERROR on ``cursor``, never a crash."""

from __future__ import annotations

import base64

import pytest

from strongroom.domain.errors import ValidationError
from strongroom.engine.pages import decode_cursor, encode_cursor


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = {
    "lone-surrogate": (_cursor(b'["accounts", "\\ud800"]'), "accounts"),
    "reported": ("WyJhY2NvdW50cyIsICJcdWQ4MDAiXQ", "accounts"),
    "nested-1000": (
        _cursor(b'["transactions", ' + b"[" * 1000 + b"]" * 1000 + b"]"),
        "transactions",
    ),
    "nested-100000": (_cursor(b'["statement", ' + b"[" * 100_000 + b"]"), "statement"),
    "duplicate-key": (_cursor(b'{"a": 1, "a": 2}'), "accounts"),
    "nan": (_cursor(b'["transactions", NaN]'), "transactions"),
    "not-utf8": (_cursor(b'["accounts", "\xff"]'), "accounts"),
    "surrogate-in-str": ("\ud800", "accounts"),
}


@pytest.mark.parametrize("case", FORGED.values(), ids=FORGED.keys())
def test_a_cursor_that_is_not_strict_json_is_a_validation_error(case: tuple[str, str]) -> None:
    """Lone surrogates, deep nesting, duplicate keys and NaN in a cursor raise on ``cursor``."""
    cursor, kind = case
    with pytest.raises(ValidationError) as caught:
        decode_cursor(cursor, kind)
    assert caught.value.loc == ("cursor",)


@pytest.mark.parametrize(
    ("kind", "position"),
    [
        ("accounts", "user:42"),
        ("transactions", 7),
        ("statement", [3, 1]),
        ("checkpoints", [5, "k1"]),
    ],
    ids=["accounts", "transactions", "statement", "checkpoints"],
)
def test_an_issued_cursor_decodes_to_its_position(kind: str, position: object) -> None:
    """What encode_cursor made, decode_cursor gives back."""
    assert decode_cursor(encode_cursor(kind, position), kind) == position
