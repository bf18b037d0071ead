"""Contract of tenants and API keys over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.conftest import Server
from tests.api.problems import problem

KEY_FIELDS = {"id", "name", "prefix", "scopes", "expires_at"}
NewTenant = Callable[[str], tuple[str, str]]


def create_key(api: httpx.Client, scopes: list[str], **fields: Any) -> Any:
    response = api.post("/v1/api-keys", json={"name": "k", "scopes": scopes, **fields})
    assert response.status_code == 201, response.text
    return response.json()


# -- tenants -------------------------------------------------------------------------------


def test_the_admin_token_creates_a_tenant_and_its_key(server: Server) -> None:
    """POST /v1/tenants answers 201 {tenant: {id, name, created_at}, api_key}."""
    with server.client(server.admin_token) as admin:
        response = admin.post("/v1/tenants", json={"name": "Acme Ltd"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"tenant", "api_key"}
    assert set(body["tenant"]) == {"id", "name", "created_at"}
    assert body["tenant"]["name"] == "Acme Ltd"
    assert isinstance(body["api_key"], str)
    assert body["api_key"]
    assert datetime.fromisoformat(body["tenant"]["created_at"]).utcoffset() is not None


def test_the_first_key_of_a_tenant_has_every_scope(server: Server, new_tenant: NewTenant) -> None:
    """The key returned with a new tenant reads, writes and administers."""
    _, key = new_tenant("acme")
    with server.client(key) as api:
        created = api.post("/v1/accounts", json={"id": "a", "currency": "USD"})
        assert created.status_code == 201
        assert api.get("/v1/accounts/a").status_code == 200
        assert api.post("/v1/ledger/verify").status_code == 200
        assert api.post("/v1/api-keys", json={"name": "n", "scopes": ["admin"]}).status_code == 201


def test_each_tenant_gets_its_own_id_and_key(new_tenant: NewTenant) -> None:
    """Two tenants get distinct ids and keys."""
    first, second = new_tenant("first"), new_tenant("second")
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_a_tenant_name_is_taken_once(server: Server, new_tenant: NewTenant) -> None:
    """A second tenant with a name already taken answers 409 ALREADY_EXISTS."""
    new_tenant("same")
    with server.client(server.admin_token) as admin:
        problem(admin.post("/v1/tenants", json={"name": "same"}), 409, "ALREADY_EXISTS")


def test_only_the_admin_token_creates_tenants(server: Server, new_tenant: NewTenant) -> None:
    """A tenant key, a wrong token or no credential answer 401 UNAUTHENTICATED."""
    _, tenant_key = new_tenant("acme")
    for token in (tenant_key, server.admin_token + "x", None):
        with server.client(token) as client:
            response = client.post("/v1/tenants", json={"name": "evil"})
        problem(response, 401, "UNAUTHENTICATED")


def test_a_tenant_needs_a_name(server: Server) -> None:
    """A missing, empty or non-string name answers 400 VALIDATION_ERROR."""
    with server.client(server.admin_token) as admin:
        for body in ({}, {"name": ""}, {"name": 5}, {"name": "a", "plan": "gold"}):
            problem(admin.post("/v1/tenants", json=body), 400, "VALIDATION_ERROR")


def test_the_admin_token_is_not_a_tenant_key(server: Server) -> None:
    """The platform admin token does not open a tenant's ledger: 401 UNAUTHENTICATED."""
    with server.client(server.admin_token) as admin:
        problem(admin.get("/v1/accounts"), 401, "UNAUTHENTICATED")


# -- API keys --------------------------------------------------------------------------------


def test_creating_a_key_shows_its_secret_once(server: Server, api: httpx.Client) -> None:
    """POST /v1/api-keys answers 201 with id, name, prefix, scopes, expires_at and the key."""
    response = api.post(
        "/v1/api-keys", json={"name": "reporting", "scopes": ["ledger:read", "ledger:write"]}
    )
    assert response.status_code == 201
    body = response.json()
    assert KEY_FIELDS | {"key"} <= body.keys()
    assert body["name"] == "reporting"
    assert sorted(body["scopes"]) == ["ledger:read", "ledger:write"]
    assert body["expires_at"] is None
    assert body["key"].startswith(body["prefix"])
    assert len(body["prefix"]) < len(body["key"])
    with server.client(body["key"]) as reporting:
        assert reporting.get("/v1/accounts").status_code == 200


def test_a_key_keeps_its_expiry(api: httpx.Client) -> None:
    """expires_at given at creation is returned, as an RFC 3339 time."""
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    body = create_key(api, ["ledger:read"], expires_at=when.isoformat())
    assert datetime.fromisoformat(body["expires_at"]) == when


def test_listing_keys_never_shows_a_secret(api: httpx.Client) -> None:
    """GET /v1/api-keys lists every key with its prefix, never a secret."""
    created = create_key(api, ["ledger:read"])
    response = api.get("/v1/api-keys")
    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"data", "next_cursor"}
    listed = {k["id"]: k for k in page["data"]}
    assert len(listed) == 2  # the tenant's first key, and this one
    mine = listed[created["id"]]
    assert mine.keys() >= KEY_FIELDS
    assert mine.get("key") is None
    assert (mine["name"], mine["prefix"], mine["scopes"]) == (
        created["name"],
        created["prefix"],
        created["scopes"],
    )
    assert created["key"] not in response.text
    own_secret = str(api.headers["authorization"]).removeprefix("Bearer ")
    assert own_secret not in response.text


def test_listing_keys_pages_with_a_cursor(api: httpx.Client) -> None:
    """limit and cursor walk every key once."""
    ids = {create_key(api, ["ledger:read"])["id"] for _ in range(2)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/api-keys", params=params).json()
        seen += [k["id"] for k in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3
    assert ids <= set(seen)


def test_deleting_a_key_revokes_it(server: Server, api: httpx.Client) -> None:
    """DELETE /v1/api-keys/{id} answers the key, now revoked, and it stops working."""
    created = create_key(api, ["ledger:read"])
    response = api.delete(f"/v1/api-keys/{created['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert "key" not in response.json() or response.json()["key"] is None
    with server.client(created["key"]) as revoked:
        problem(revoked.get("/v1/accounts"), 401, "UNAUTHENTICATED")
    assert api.get("/v1/accounts").status_code == 200


def test_deleting_a_missing_key_is_not_found(api: httpx.Client) -> None:
    """DELETE of an unknown key id answers 404 NOT_FOUND."""
    problem(api.delete("/v1/api-keys/key_missing"), 404, "NOT_FOUND")


def test_a_malformed_key_request_is_a_validation_error(api: httpx.Client) -> None:
    """Unknown or no scopes, no name, or an expiry in the past or without offset answer 400."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    bodies = [
        {"name": "k", "scopes": ["ledger:delete"]},
        {"name": "k", "scopes": []},
        {"name": "k"},
        {"scopes": ["admin"]},
        {"name": "", "scopes": ["admin"]},
        {"name": "k", "scopes": ["admin"], "expires_at": past},
        {"name": "k", "scopes": ["admin"], "expires_at": "2999-01-01T00:00:00"},
        {"name": "k", "scopes": ["admin"], "tenant": "tn_other"},
    ]
    for body in bodies:
        response = api.post("/v1/api-keys", json=body)
        assert response.status_code == 400, body
        problem(response, 400, "VALIDATION_ERROR")
    assert len(api.get("/v1/api-keys").json()["data"]) == 1
