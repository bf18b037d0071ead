"""Ids: a prefix, then 26 Crockford base-32 characters that sort by creation time."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain import ids

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _one_character_at_a_time(value: int) -> str:
    """The plain encoding: 26 digits of 5 bits, most significant first."""
    return "".join(ALPHABET[(value >> (5 * (25 - i))) & 31] for i in range(26))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_encoding_is_base_32_most_significant_first(value: int) -> None:
    fast = "".join(ids._PAIRS[(value >> shift) & 1023] for shift in ids._SHIFTS)
    assert fast == _one_character_at_a_time(value)


def test_an_id_carries_its_milliseconds_first_and_sorts_by_them() -> None:
    before = time.time_ns() // 1_000_000
    made = [ids.new_id("tx") for _ in range(50)]
    after = time.time_ns() // 1_000_000
    for found in made:
        prefix, body = found.split("_")
        assert prefix == "tx"
        assert len(body) == 26
        assert set(body) <= set(ALPHABET)
        value = 0
        for char in body:
            value = value * 32 + ALPHABET.index(char)
        assert before <= value >> 80 <= after
    assert len(set(made)) == len(made)
    later = ids.new_id("tx")
    time.sleep(0.002)
    assert ids.new_id("tx")[3:13] > later[3:13]
