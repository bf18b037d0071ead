"""Tenant isolation and credentials over real HTTP.

Tenant A owns accounts, transactions, a hold and API keys; tenant B must not be
able to read, change or even detect any of them: A's ids answer B exactly as
ids that never existed do. Keys without the needed scope answer 403; missing,
malformed, unknown, revoked and expired keys answer 401.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from strongroom.access import keys
from tests.api.conftest import Server
from tests.api.problems import problem

NewTenant = Callable[[str], tuple[str, str]]


def create(api: httpx.Client, account_id: str, **fields: Any) -> None:
    response = api.post("/v1/accounts", json={"id": account_id, "currency": "USD", **fields})
    assert response.status_code == 201, response.text


def transfer(api: httpx.Client, source: str, to: str, amount: int, **fields: Any) -> Any:
    body = {"from": source, "to": to, "amount": amount, "currency": "USD", **fields}
    response = api.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def twin(identifier: str) -> str:
    """An id of the same length and form that was never created."""
    last = "0" if identifier[-1] != "0" else "1"
    return identifier[:-1] + last


@dataclass
class Tenants:
    a: httpx.Client
    b: httpx.Client
    ids: dict[str, str]
    """A's ``account``, ``tx`` (posted), ``hold`` (pending) and ``key`` (API key id)."""


@pytest.fixture
def tenants(server: Server, new_tenant: NewTenant) -> Iterator[Tenants]:
    """Tenant A with books, a hold and a second key; tenant B with a small ledger of its own."""
    _, key_a = new_tenant("a")
    _, key_b = new_tenant("b")
    with server.client(key_a) as a, server.client(key_b) as b:
        create(a, "@world", overdraft_limit=None)
        create(a, "alice")
        create(a, "bob")
        tx = transfer(a, "@world", "alice", 1000)
        hold = transfer(a, "alice", "bob", 300, pending=True)
        key = a.post("/v1/api-keys", json={"name": "a-extra", "scopes": ["ledger:read"]}).json()
        create(b, "@world", overdraft_limit=None)
        create(b, "mine")
        transfer(b, "@world", "mine", 5)
        ids = {"account": "alice", "tx": tx["id"], "hold": hold["id"], "key": key["id"]}
        yield Tenants(a, b, ids)


# -- ids of another tenant ------------------------------------------------------------------------

BY_ID = {
    "get-account": ("GET", "/v1/accounts/{account}", None),
    "patch-account": ("PATCH", "/v1/accounts/{account}", {"status": "frozen"}),
    "balance": ("GET", "/v1/accounts/{account}/balance", None),
    "statement": ("GET", "/v1/accounts/{account}/statement", None),
    "get-transaction": ("GET", "/v1/transactions/{tx}", None),
    "post-hold": ("POST", "/v1/transactions/{hold}/post", None),
    "void-hold": ("POST", "/v1/transactions/{hold}/void", None),
    "reverse": ("POST", "/v1/transactions/{tx}/reverse", None),
    "revoke-key": ("DELETE", "/v1/api-keys/{key}", None),
    "transfer-from": (
        "POST",
        "/v1/transfers",
        {"from": "{account}", "to": "mine", "amount": 1, "currency": "USD"},
    ),
    "transaction-line": (
        "POST",
        "/v1/transactions",
        {
            "lines": [
                {"account": "mine", "side": "debit", "amount": 1},
                {"account": "{account}", "side": "credit", "amount": 1},
            ],
            "currency": "USD",
        },
    ),
}


def _request(
    client: httpx.Client, method: str, path: str, body: Any, ids: dict[str, str]
) -> httpx.Response:
    filled = None
    if body is not None:
        filled = json.loads(json.dumps(body).replace("{account}", ids["account"]))
    return client.request(method, path.format_map(ids), json=filled)


def _shape(response: httpx.Response, ids: dict[str, str]) -> tuple[Any, ...]:
    """The response with the ids asked for masked, and request-specific headers dropped."""
    text = response.text
    for value in ids.values():
        text = text.replace(value, "<id>")
    body = json.loads(text)
    body.pop("request_id", None)
    headers = {k: v for k, v in response.headers.items() if k not in {"date", "x-request-id"}}
    return response.status_code, headers, body


def test_another_tenants_ids_answer_like_missing_ones(tenants: Tenants) -> None:
    """On every endpoint taking an id, B using A's id gets the 404 of an id that never existed."""
    missing_ids = {name: twin(value) for name, value in tenants.ids.items()}
    for name, (method, path, body) in BY_ID.items():
        theirs = _request(tenants.b, method, path, body, tenants.ids)
        missing = _request(tenants.b, method, path, body, missing_ids)
        assert theirs.status_code == 404, (name, theirs.text)
        problem(theirs, 404, "NOT_FOUND")
        assert _shape(theirs, tenants.ids) == _shape(missing, missing_ids), name


def test_another_tenant_cannot_change_anything(tenants: Tenants) -> None:
    """After B tried every write on A's ids, A's accounts, hold, chain and keys are unchanged."""
    a = tenants.a
    before = [
        a.get("/v1/accounts").json(),
        a.get("/v1/transactions").json(),
        a.get("/v1/api-keys").json(),
        a.get("/v1/ledger/head").json(),
    ]
    for method, path, body in BY_ID.values():
        _request(tenants.b, method, path, body, tenants.ids)
    after = [
        a.get("/v1/accounts").json(),
        a.get("/v1/transactions").json(),
        a.get("/v1/api-keys").json(),
        a.get("/v1/ledger/head").json(),
    ]
    for listing in (before[2], after[2]):
        for key in listing["data"]:
            key.pop("last_used_at", None)
    assert after == before
    assert a.get(f"/v1/transactions/{tenants.ids['hold']}").json()["status"] == "pending"


# -- lists -------------------------------------------------------------------------------------


def test_lists_show_only_the_callers_rows(tenants: Tenants) -> None:
    """B's accounts, transactions and api-keys lists hold none of A's rows."""
    b = tenants.b
    accounts = b.get("/v1/accounts").json()["data"]
    assert sorted(acc["id"] for acc in accounts) == ["@world", "mine"]
    assert b.get("/v1/accounts", params={"prefix": "al"}).json()["data"] == []
    transactions = b.get("/v1/transactions").json()["data"]
    assert len(transactions) == 1
    assert {tenants.ids["tx"], tenants.ids["hold"]}.isdisjoint(tx["id"] for tx in transactions)
    assert b.get("/v1/transactions", params={"account": "alice"}).json()["data"] == []
    b_keys = {k["id"] for k in b.get("/v1/api-keys").json()["data"]}
    a_keys = {k["id"] for k in tenants.a.get("/v1/api-keys").json()["data"]}
    assert len(b_keys) == 1
    assert b_keys.isdisjoint(a_keys)


def test_the_same_account_id_in_two_tenants_is_two_accounts(tenants: Tenants) -> None:
    """B can create its own "alice"; its balance, statement and history are B's alone."""
    b = tenants.b
    create(b, "alice")
    transfer(b, "@world", "alice", 7)
    assert b.get("/v1/accounts/alice").json()["balance"]["posted"] == 7
    assert tenants.a.get("/v1/accounts/alice").json()["balance"]["posted"] == 1000
    lines = b.get("/v1/accounts/alice/statement").json()["data"]
    assert [(line["amount"], line["balance_after"]) for line in lines] == [(7, 7)]
    assert b.get("/v1/accounts/alice/balance").json()["posted"] == 7
    assert len(b.get("/v1/transactions", params={"account": "alice"}).json()["data"]) == 1


def test_each_tenant_has_its_own_chain(tenants: Tenants) -> None:
    """B's head and verification count only B's entries."""
    head_a = tenants.a.get("/v1/ledger/head").json()
    head_b = tenants.b.get("/v1/ledger/head").json()
    assert head_b["seq"] == 1
    assert head_a["seq"] == 2
    assert head_a["hash"] != head_b["hash"]
    assert tenants.b.post("/v1/ledger/verify").json()["checked"] == 1


def test_idempotency_keys_belong_to_one_tenant(tenants: Tenants) -> None:
    """B sending A's idempotency key gets its own fresh result, never A's."""
    body = {"from": "@world", "to": "mine", "amount": 1, "currency": "USD"}
    a_body = body | {"to": "alice"}
    first = tenants.a.post("/v1/transfers", json=a_body, headers={"Idempotency-Key": "shared"})
    assert first.status_code == 201
    same = tenants.b.post("/v1/transfers", json=a_body, headers={"Idempotency-Key": "other"})
    problem(same, 404, "NOT_FOUND")  # A's account, named in B's request, is not B's to see
    own = tenants.b.post("/v1/transfers", json=body, headers={"Idempotency-Key": "shared"})
    assert own.status_code == 201
    assert own.headers.get("idempotent-replayed") != "true"
    assert own.json()["id"] != first.json()["id"]


def test_no_body_field_names_a_tenant(api: httpx.Client) -> None:
    """A tenant field in a body is refused as unknown (400), never obeyed."""
    for path, body in [
        ("/v1/accounts", {"id": "x", "currency": "USD", "tenant": "tn_other"}),
        ("/v1/accounts", {"id": "x", "currency": "USD", "tenant_id": "tn_other"}),
        ("/v1/transfers", {"from": "a", "to": "b", "amount": 1, "currency": "USD", "tenant": "t"}),
    ]:
        problem(api.post(path, json=body), 400, "VALIDATION_ERROR")


# -- scopes ---------------------------------------------------------------------------------------


def _key(api: httpx.Client, *scopes: str) -> str:
    response = api.post("/v1/api-keys", json={"name": "scoped", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


TRANSFER = {"from": "@world", "to": "alice", "amount": 1, "currency": "USD"}
TRANSFER_LINES = {
    "lines": [
        {"account": "@world", "side": "debit", "amount": 1},
        {"account": "alice", "side": "credit", "amount": 1},
    ],
    "currency": "USD",
}
FORBIDDEN = {
    "ledger:read": [
        ("POST", "/v1/transfers", TRANSFER),
        ("POST", "/v1/accounts", {"id": "new", "currency": "USD"}),
        ("PATCH", "/v1/accounts/alice", {"status": "frozen"}),
        ("POST", "/v1/transactions/batch", {"transactions": [TRANSFER_LINES]}),
        ("POST", "/v1/transactions/{hold}/void", None),
        ("POST", "/v1/ledger/verify", None),
        ("GET", "/v1/api-keys", None),
    ],
    "ledger:write": [
        ("POST", "/v1/ledger/verify", None),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {"name": "more", "scopes": ["admin"]}),
        ("DELETE", "/v1/api-keys/{key}", None),
    ],
    "admin": [
        ("GET", "/v1/accounts", None),
        ("GET", "/v1/ledger/head", None),
        ("POST", "/v1/transfers", TRANSFER),
    ],
    "payments:write": [
        ("GET", "/v1/accounts", None),
        ("POST", "/v1/transfers", TRANSFER),
    ],
}


@pytest.mark.parametrize("scope", list(FORBIDDEN), ids=list(FORBIDDEN))
def test_a_key_without_the_scope_is_forbidden(server: Server, tenants: Tenants, scope: str) -> None:
    """Each request needing a scope the key lacks answers 403 FORBIDDEN and changes nothing."""
    head = tenants.a.get("/v1/ledger/head").json()
    with server.client(_key(tenants.a, scope)) as limited:
        for method, path, body in FORBIDDEN[scope]:
            response = limited.request(method, path.format_map(tenants.ids), json=body)
            assert response.status_code == 403, (method, path, response.text)
            problem(response, 403, "FORBIDDEN")
    assert tenants.a.get("/v1/ledger/head").json() == head
    assert tenants.a.get("/v1/accounts/alice").json()["status"] == "active"
    assert len(tenants.a.get("/v1/api-keys").json()["data"]) == 3


def test_a_read_key_reads_everything(server: Server, tenants: Tenants) -> None:
    """ledger:read opens every read endpoint."""
    with server.client(_key(tenants.a, "ledger:read")) as reader:
        for path in (
            "/v1/accounts",
            "/v1/accounts/alice",
            "/v1/accounts/alice/balance",
            "/v1/accounts/alice/statement",
            "/v1/transactions",
            f"/v1/transactions/{tenants.ids['tx']}",
            "/v1/ledger/head",
        ):
            assert reader.get(path).status_code == 200, path


def test_a_write_key_also_reads(server: Server, tenants: Tenants) -> None:
    """ledger:write implies ledger:read."""
    with server.client(_key(tenants.a, "ledger:write")) as writer:
        assert writer.post("/v1/transfers", json=TRANSFER).status_code == 201
        assert writer.get("/v1/accounts/alice").json()["balance"]["posted"] == 1001


def test_an_admin_key_verifies_and_manages_keys(server: Server, tenants: Tenants) -> None:
    """admin opens verify and the api-keys endpoints."""
    with server.client(_key(tenants.a, "admin")) as admin:
        assert admin.post("/v1/ledger/verify").json()["ok"] is True
        assert admin.get("/v1/api-keys").status_code == 200
        assert admin.delete(f"/v1/api-keys/{tenants.ids['key']}").status_code == 200


# -- credentials ---------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/v1/accounts"),
    ("POST", "/v1/transfers"),
    ("GET", "/v1/transactions"),
    ("GET", "/v1/ledger/head"),
    ("POST", "/v1/ledger/verify"),
    ("GET", "/v1/api-keys"),
]


def _unauthenticated(response: httpx.Response) -> None:
    problem(response, 401, "UNAUTHENTICATED")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_a_request_without_credentials_is_unauthenticated(server: Server) -> None:
    """No Authorization header answers 401 UNAUTHENTICATED with WWW-Authenticate: Bearer."""
    with server.client() as anonymous:
        for method, path in PROTECTED:
            _unauthenticated(anonymous.request(method, path, json=TRANSFER))


def test_a_malformed_key_is_unauthenticated(server: Server, tenants: Tenants) -> None:
    """A key with a broken checksum, truncated, or in the wrong scheme answers 401."""
    good = str(tenants.a.headers["authorization"]).removeprefix("Bearer ")
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    headers = [
        f"Bearer {flipped}",
        f"Bearer {good[:-1]}",
        f"Bearer {good}x",
        "Bearer",
        "Bearer sr_",
        f"Basic {good}",
        good,
    ]
    with server.client() as client:
        for header in headers:
            _unauthenticated(client.get("/v1/accounts", headers={"Authorization": header}))


def test_an_unknown_well_formed_key_is_unauthenticated(server: Server) -> None:
    """A key with a valid checksum that was never issued answers 401."""
    with server.client(keys.generate()) as stranger:
        _unauthenticated(stranger.get("/v1/accounts"))


def test_a_revoked_key_fails_on_its_very_next_request(server: Server, tenants: Tenants) -> None:
    """Right after DELETE /v1/api-keys/{id}, the same connection's next request answers 401."""
    response = tenants.a.post("/v1/api-keys", json={"name": "soon", "scopes": ["ledger:read"]})
    created = response.json()
    with server.client(created["key"]) as doomed:
        assert doomed.get("/v1/accounts").status_code == 200
        assert tenants.a.delete(f"/v1/api-keys/{created['id']}").status_code == 200
        _unauthenticated(doomed.get("/v1/accounts"))
        _unauthenticated(doomed.get("/v1/accounts"))


def test_an_expired_key_is_unauthenticated(server: Server, tenants: Tenants) -> None:
    """A key works until its expires_at and answers 401 from then on."""
    expires = datetime.now(UTC) + timedelta(seconds=1)
    response = tenants.a.post(
        "/v1/api-keys",
        json={"name": "brief", "scopes": ["ledger:read"], "expires_at": expires.isoformat()},
    )
    assert response.status_code == 201, response.text
    with server.client(response.json()["key"]) as brief:
        assert brief.get("/v1/accounts").status_code == 200
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
        _unauthenticated(brief.get("/v1/accounts"))
