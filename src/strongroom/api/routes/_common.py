"""Helpers shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request, Response

from strongroom.api.problems import PROBLEM
from strongroom.api.schemas import ProblemOut


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents a route can answer."""
    always = (400, 401, 403, 413)
    return {
        status: {"model": ProblemOut, "content": {PROBLEM: {}}, "description": "Problem"}
        for status in sorted(set(always + statuses))
    }


P = ParamSpec("P")
T = TypeVar("T")


async def in_read_thread(
    request: Request, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``call(*args, **kwargs)``, a blocking read, in one of the server process's read
    threads (``STRONGROOM_READ_THREADS``, 8 by default). A read beyond them waits its
    turn on the event loop rather than as one more thread contending for the
    interpreter's lock (docs/benchmarks.md, "Reads under load")."""
    limiter: CapacityLimiter = request.app.state.read_threads
    return await anyio.to_thread.run_sync(partial(call, *args, **kwargs), limiter=limiter)


def mark_replay(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
