"""Helpers shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request, Response

from strongroom.api.problems import PROBLEM, PROBLEM_SCHEMA_REF
from strongroom.domain.errors import (
    Forbidden,
    StorageUnavailable,
    StrongroomError,
    Unauthenticated,
    ValidationError,
)

KEYED: tuple[type[StrongroomError], ...] = (Unauthenticated, Forbidden, StorageUnavailable)
"""What every route behind an API key with a scope can answer: no valid key, a key
without the scope, and a database that cannot be reached (the key is looked up there)."""

_VALIDATION_ERRORS = {
    "type": "array",
    "description": "Every invalid part of the request: where it is and what is wrong",
    "items": {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
        },
        "required": ["loc", "msg"],
    },
}


def problems(*errors: type[StrongroomError]) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that can raise ``errors``: one problem document per
    HTTP status, with the codes it can carry as an ``enum`` of its ``code``.

    Two are always there, as every request can get them: 400 ``VALIDATION_ERROR``
    (a request the HTTP parser refuses, such as a control character in a header,
    or a body that is not strict JSON) and 500 ``INTERNAL_ERROR`` (an unexpected
    error). Name the others the route can raise on a store that only Strongroom
    wrote. Groups such as ``Conflict`` are refused: name their members.
    """
    by_status: dict[int, dict[str, str]] = {}
    named: tuple[type[StrongroomError], ...] = (*errors, ValidationError, StrongroomError)
    for error in named:
        if "code" not in vars(error):
            raise TypeError(f"{error.__name__} is a group of errors: name its members")
        by_status.setdefault(error.http_status, {})[error.code] = error.title
    return {status: _response(status, titles) for status, titles in sorted(by_status.items())}


def _response(status: int, titles: dict[str, str]) -> dict[str, Any]:
    codes = sorted(titles)
    narrowed: dict[str, Any] = {
        "properties": {"status": {"const": status}, "code": {"enum": codes}},
    }
    if status == ValidationError.http_status:
        narrowed["properties"]["errors"] = _VALIDATION_ERRORS
        narrowed["required"] = ["errors"]
    response: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}, a problem whose `code` is one of: "
        + "; ".join(f"`{code}` ({titles[code].lower()})" for code in codes),
        "content": {PROBLEM: {"schema": {"allOf": [{"$ref": PROBLEM_SCHEMA_REF}, narrowed]}}},
    }
    if status == Unauthenticated.http_status:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "`Bearer`: the scheme the credential goes in",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    return response


P = ParamSpec("P")
T = TypeVar("T")


async def in_read_thread(
    request: Request, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``call(*args, **kwargs)``, a blocking read, in one of the server process's read
    threads (``STRONGROOM_READ_THREADS``, 8 by default). A read beyond them waits its
    turn on the event loop rather than as one more thread contending for the
    interpreter's lock."""
    limiter: CapacityLimiter = request.app.state.read_threads
    return await anyio.to_thread.run_sync(partial(call, *args, **kwargs), limiter=limiter)


def mark_replay(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
