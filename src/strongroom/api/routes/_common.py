"""Helpers shared by the routers."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from strongroom.api.problems import PROBLEM
from strongroom.api.schemas import ProblemOut


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents a route can answer."""
    always = (400, 401, 403, 413)
    return {
        status: {"model": ProblemOut, "content": {PROBLEM: {}}, "description": "Problem"}
        for status in sorted(set(always + statuses))
    }


def mark_replay(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
