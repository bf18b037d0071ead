"""Identifiers that sort by creation time: a prefix and a ULID-style body.

48 bits of milliseconds then 80 random bits, in Crockford base 32 (26
characters), so ids of one prefix sort roughly in the order they were made.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
