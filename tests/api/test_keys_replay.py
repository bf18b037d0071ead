"""API key creation is idempotent without ever showing a secret twice."""

from __future__ import annotations

import httpx


def test_replayed_key_creation_hides_the_secret(api: httpx.Client) -> None:
    """The same Idempotency-Key returns the same key id, with the secret null the second time."""
    body = {"name": "ci", "scopes": ["ledger:read"]}
    first = api.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "key-1"})
    again = api.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "key-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["key"].startswith("sr_")
    assert again.json()["key"] is None
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = api.get("/v1/api-keys").json()["data"]
    assert [k["id"] for k in listed].count(first.json()["id"]) == 1


def test_key_reused_for_another_key_is_refused(api: httpx.Client) -> None:
    """The same Idempotency-Key with other scopes answers IDEMPOTENCY_KEY_REUSED."""
    api.post(
        "/v1/api-keys", json={"name": "a", "scopes": ["admin"]}, headers={"Idempotency-Key": "k"}
    )
    response = api.post(
        "/v1/api-keys",
        json={"name": "a", "scopes": ["ledger:read"]},
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
