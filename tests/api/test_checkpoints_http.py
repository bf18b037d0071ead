"""GET /v1/ledger/checkpoints over real HTTP: signed heads anyone can verify."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from strongroom import Ledger
from strongroom.engine.checkpoints import Checkpoint, SigningKey, verify_checkpoint
from tests.api.conftest import Server

NewTenant = Callable[[str], tuple[str, str]]


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _tenant_with_history(server: Server, new_tenant: NewTenant, name: str) -> tuple[str, str]:
    tenant, key = new_tenant(name)
    with server.client(key) as api:
        world = {"id": "@world", "currency": "USD", "overdraft_limit": None}
        _ok(api.post("/v1/accounts", json=world))
        _ok(api.post("/v1/accounts", json={"id": "alice", "currency": "USD"}))
        body = {"from": "@world", "to": "alice", "amount": 100, "currency": "USD"}
        _ok(api.post("/v1/transfers", json=body))
    return tenant, key


def _sign(server: Server, tenant: str, key: SigningKey) -> Checkpoint:
    with Ledger.open(
        server.database_url, tenant=tenant, migrate=False, create_tenant=False
    ) as ledger:
        return ledger.checkpoint(key)


def test_checkpoints_are_served_with_what_verifies_them(
    server: Server, new_tenant: NewTenant, tmp_path: Path
) -> None:
    """Each item carries the head, its signature and the public key; the signature verifies."""
    tenant, api_key = _tenant_with_history(server, new_tenant, "acme")
    signing = SigningKey.load(tmp_path / "signing.key")
    signed = _sign(server, tenant, signing)
    with server.client(api_key) as api:
        head = _ok(api.get("/v1/ledger/head"))
        body = _ok(api.get("/v1/ledger/checkpoints"))
    assert body["next_cursor"] is None
    [item] = body["data"]
    assert (item["tenant"], item["seq"], item["hash"]) == (tenant, head["seq"], head["hash"])
    assert (item["key_id"], item["public_key"]) == (signing.key_id, signing.public_key)
    assert item["payload"] == signed.payload.decode()
    served = Checkpoint.from_dict(item)
    assert verify_checkpoint(served, item["public_key"])
    assert verify_checkpoint(served, signing.public_key)


def test_a_tampered_item_fails_verification(
    server: Server, new_tenant: NewTenant, tmp_path: Path
) -> None:
    """Changing the hash of a served checkpoint makes its signature fail."""
    tenant, api_key = _tenant_with_history(server, new_tenant, "acme")
    signing = SigningKey.load(tmp_path / "signing.key")
    _sign(server, tenant, signing)
    with server.client(api_key) as api:
        [item] = _ok(api.get("/v1/ledger/checkpoints"))["data"]
    item["hash"] = "f" * 64
    assert not verify_checkpoint(Checkpoint.from_dict(item), signing.public_key)


def test_checkpoints_page_and_stay_per_tenant(
    server: Server, new_tenant: NewTenant, tmp_path: Path
) -> None:
    """Pages chain by cursor in seq order; another tenant's checkpoints never show."""
    tenant, api_key = _tenant_with_history(server, new_tenant, "acme")
    _, other_key = _tenant_with_history(server, new_tenant, "beta")
    signing = SigningKey.load(tmp_path / "signing.key")
    first = _sign(server, tenant, signing)
    with server.client(api_key) as api:
        body = {"from": "@world", "to": "alice", "amount": 1, "currency": "USD"}
        _ok(api.post("/v1/transfers", json=body))
        second = _sign(server, tenant, signing)
        page = _ok(api.get("/v1/ledger/checkpoints", params={"limit": 1}))
        rest = _ok(api.get("/v1/ledger/checkpoints", params={"cursor": page["next_cursor"]}))
    assert [i["seq"] for i in page["data"] + rest["data"]] == [first.seq, second.seq]
    assert rest["next_cursor"] is None
    with server.client(other_key) as other:
        assert _ok(other.get("/v1/ledger/checkpoints"))["data"] == []
        bad = [
            other.get("/v1/ledger/checkpoints", params={"cursor": cursor})
            for cursor in (
                "garbage",
                _forged([2**70, "k"]),
                _forged({"a": 1}),
                _forged([1]),
                _forged([1, "k\x00"]),
            )
        ]
    assert [(r.status_code, r.json()["code"]) for r in bad] == [(400, "VALIDATION_ERROR")] * 5


def _forged(position: Any) -> str:
    raw = json.dumps(["checkpoints", position]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
