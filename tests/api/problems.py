"""Checks and small steps shared by the HTTP contract tests."""

from __future__ import annotations

from typing import Any

import httpx


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of ``response``, checked to carry ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()
    return body


def create(api: httpx.Client, account_id: str, **fields: Any) -> None:
    """Create a USD account (``fields`` added to the body), checked to answer 201."""
    response = api.post("/v1/accounts", json={"id": account_id, "currency": "USD", **fields})
    assert response.status_code == 201, response.text
