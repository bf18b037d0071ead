"""API key format, hashing and scopes (pure: no I/O).

A key is ``sr_`` + 32 random base62 characters (190 bits) + a 6-character
checksum of them, e.g. ``sr_3fQ9...k2Zt0a1B2c``. The checksum lets a mistyped
or truncated key be refused before any database lookup. Only the SHA-256 of a
key is stored: keys are long random strings, so a fast hash is enough (no
password stretching), and a stolen table yields no usable key. The first 11
characters (``sr_`` and 8 of the random part) are kept as a display prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from collections.abc import Iterable
from typing import Any

from strongroom.domain.errors import ValidationError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "sr_"
BODY = 32
CHECK = 6
_FORMAT = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{BODY + CHECK}}}")
DISPLAY = len(PREFIX) + 8

SCOPES = ("admin", "ledger:read", "ledger:write", "payments:write")
_IMPLIED = {"ledger:write": {"ledger:read"}}


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECK)


def generate() -> str:
    """A new random key with its checksum."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY))
    return f"{PREFIX}{body}{_checksum(body)}"


def well_formed(key: str) -> bool:
    """Format and checksum hold (constant-time on the checksum)."""
    if not _FORMAT.fullmatch(key):
        return False
    body, check = key[len(PREFIX) : len(PREFIX) + BODY], key[len(PREFIX) + BODY :]
    return hmac.compare_digest(_checksum(body), check)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY]


def check_scopes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError("scopes is a non-empty list", loc=("scopes",))
    unknown = [s for s in value if s not in SCOPES]
    if unknown:
        raise ValidationError(f"unknown scopes {unknown}; known: {list(SCOPES)}", loc=("scopes",))
    return tuple(sorted(set(value)))


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether ``scopes`` allow ``needed`` (ledger:write implies ledger:read)."""
    held = set(scopes)
    for scope in list(held):
        held |= _IMPLIED.get(scope, set())
    return needed in held
