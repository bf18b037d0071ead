"""The server answers over real HTTP."""

from __future__ import annotations

import httpx


def test_health_and_a_transfer(api: httpx.Client) -> None:
    """healthz answers, and a deposit through /v1/transfers returns balances."""
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200
    api.post("/v1/accounts", json={"id": "@world", "currency": "USD", "overdraft_limit": None})
    api.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
    response = api.post(
        "/v1/transfers", json={"from": "@world", "to": "user:1", "amount": 5, "currency": "USD"}
    )
    assert response.status_code == 201
    assert response.json()["balances"]["user:1"]["posted"] == 5
    assert response.headers["x-request-id"]
