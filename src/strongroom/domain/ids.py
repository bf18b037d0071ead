"""Identifiers that sort by creation time: a prefix and a ULID-style body.

48 bits of milliseconds then 80 random bits, in Crockford base 32 (26
characters), so ids of one prefix sort roughly in the order they were made.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]
"""Two characters for each 10 bits: half the steps of one character at a time."""
_SHIFTS = range(120, -1, -10)


def new_id(prefix: str) -> str:
    """``prefix_`` and 26 characters: the 128 bits, most significant first (2 zero bits lead)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{''.join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])}"
