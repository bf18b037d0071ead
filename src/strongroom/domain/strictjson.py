"""Strict JSON: what request bodies and opaque cursors are decoded with.

RFC 8259 leaves room that :func:`json.loads` fills leniently; here each of these
is refused with :class:`StrictJsonError` (a ``ValueError``):

* a duplicate key in an object (``json.loads`` keeps the last one);
* a lone surrogate (``"\\ud800"``), which no UTF-8 text can hold and no
  database stores;
* ``NaN``, ``Infinity``, ``-Infinity``, and a number too large for a double
  (``1e400``, which would decode to infinity);
* nesting deeper than :data:`MAX_DEPTH` arrays and objects;
* bytes that are not UTF-8.

The checks cost little on the usual bodies: the depth is walked only when the
text holds more than :data:`MAX_DEPTH` brackets, and surrogates are looked for
only when it holds a surrogate escape.
"""

from __future__ import annotations

import json
import math
import re
from itertools import chain
from typing import Any

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects accepted (the top level is depth 1)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class StrictJsonError(ValueError):
    """The text is not strict JSON; the message says why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJsonError(f"duplicate object key {key[:64]!r}")
            seen.add(key)
    return found


def _constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError(f"the number {text[:32]} is too large")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)


def loads(data: bytes | bytearray | str) -> Any:
    """The value of the JSON text ``data`` (bytes must be UTF-8), or StrictJsonError."""
    try:
        if isinstance(data, str):
            text = data
            text.encode("utf-8")  # a str may hold a surrogate itself, not only escaped
        else:
            text = bytes(data).decode("utf-8")
        value = _DECODER.decode(text)
    except StrictJsonError:
        raise
    except RecursionError:
        raise StrictJsonError(f"nesting deeper than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise StrictJsonError(f"not JSON: {exc}") from None
    except ValueError as exc:  # not UTF-8 (either way), an integer of over 4300 digits
        raise StrictJsonError(f"not JSON: {str(exc)[:120]}") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise StrictJsonError(f"nesting deeper than {MAX_DEPTH}")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(text):
        raise StrictJsonError("a string holds a lone surrogate (not UTF-8 text)")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``value``.

    Level by level, one comprehension per level (not per container): a body of
    many small arrays costs about what decoding it did.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        children = chain.from_iterable([c.values() if type(c) is dict else c for c in level])
        level = [v for v in children if type(v) is list or type(v) is dict]
        if not level:
            return False
    return True


def _has_lone_surrogate(text: str) -> bool:
    """Whether valid JSON ``text`` escapes a surrogate outside a pair.

    The decoder joins a high surrogate escape and a low one right after it into
    one character; any other surrogate escape decodes to a lone surrogate, which
    no UTF-8 text can hold. Escaped backslashes go first, each as one character
    that is not a backslash (runs are paired from the left, as the decoder reads
    them); every backslash left then starts an escape, so once the pairs are
    gone, a surrogate escape still there is a lone one. All of it runs in C.
    """
    unescaped = _SURROGATE_PAIR.sub("", text.replace("\\\\", "_"))
    return _SURROGATE_ESCAPE.search(unescaped) is not None
