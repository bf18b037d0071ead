"""Contract of the service endpoints and of the integrity endpoints over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from strongroom.api.app import create_app
from strongroom.api.settings import Settings
from strongroom.store.database import create_db_engine
from strongroom.store.schema import accounts
from tests.api.conftest import Server

CONTRACT_OPERATIONS = [
    ("post", "/v1/tenants"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{key_id}"),
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{account_id}"),
    ("patch", "/v1/accounts/{account_id}"),
    ("get", "/v1/accounts/{account_id}/balance"),
    ("get", "/v1/accounts/{account_id}/statement"),
    ("post", "/v1/transactions"),
    ("get", "/v1/transactions"),
    ("post", "/v1/transfers"),
    ("post", "/v1/transactions/batch"),
    ("get", "/v1/transactions/{transaction_id}"),
    ("post", "/v1/transactions/{transaction_id}/post"),
    ("post", "/v1/transactions/{transaction_id}/void"),
    ("post", "/v1/transactions/{transaction_id}/reverse"),
    ("get", "/v1/ledger/head"),
    ("post", "/v1/ledger/verify"),
    ("get", "/healthz"),
    ("get", "/readyz"),
]


def transfer(api: httpx.Client, source: str, to: str, amount: int, **fields: Any) -> Any:
    body = {"from": source, "to": to, "amount": amount, "currency": "USD", **fields}
    response = api.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def books(api: httpx.Client) -> None:
    """``@world``, ``alice`` and ``bob``; a deposit, a payment and a hold."""
    for account_id, limit in (("@world", None), ("alice", 0), ("bob", 0)):
        body = {"id": account_id, "currency": "USD", "overdraft_limit": limit}
        assert api.post("/v1/accounts", json=body).status_code == 201
    transfer(api, "@world", "alice", 1000)
    transfer(api, "alice", "bob", 100)
    transfer(api, "alice", "bob", 50, pending=True)


# -- service ---------------------------------------------------------------------------------


def test_health_and_readiness_need_no_credential(server: Server) -> None:
    """GET /healthz answers {"status": "ok"} and GET /readyz 200, without a credential."""
    with server.client() as anonymous:
        health = anonymous.get("/healthz")
        ready = anonymous.get("/readyz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"


def test_metrics_are_prometheus_text(api: httpx.Client) -> None:
    """GET /metrics answers the Prometheus text format, counting HTTP requests."""
    api.get("/v1/accounts")
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text
    assert "strongroom_http_requests_total" in response.text


def test_metrics_measure_group_commits(api: httpx.Client) -> None:
    """GET /metrics has the group committer's histograms: requests per database
    transaction and the time each took, counting the writes just made."""
    for account in ("@world", "m1"):
        created = api.post(
            "/v1/accounts", json={"id": account, "currency": "USD", "overdraft_limit": None}
        )
        assert created.status_code == 201, created.text
    moved = api.post(
        "/v1/transfers", json={"from": "@world", "to": "m1", "amount": 5, "currency": "USD"}
    )
    assert moved.status_code == 201, moved.text
    text = api.get("/metrics").text
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("strongroom_group_commit_") and "{" not in line
    }
    assert samples["strongroom_group_commit_requests_count"] >= 3
    assert samples["strongroom_group_commit_requests_sum"] >= 3
    assert samples["strongroom_group_commit_seconds_count"] >= 3
    assert samples["strongroom_group_commit_seconds_sum"] > 0
    assert 'strongroom_group_commit_requests_bucket{le="512.0"}' in text


def test_openapi_and_docs_describe_every_contract_operation(server: Server) -> None:
    """GET /openapi.json lists every path and method of the contract; /docs is an HTML page."""
    with server.client() as anonymous:
        response = anonymous.get("/openapi.json")
        docs = anonymous.get("/docs")
    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = [
        (method, path) for method, path in CONTRACT_OPERATIONS if method not in paths.get(path, {})
    ]
    assert missing == []
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")


def test_openapi_declares_the_bearer_key_on_every_guarded_operation() -> None:
    """Every /v1 operation declares the one bearer scheme; the probes and metrics declare none."""
    document = create_app(Settings(database_url="sqlite://", worker=False)).openapi()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer sr_...`",
        }
    }
    declared = {
        (method, path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert {key for key in CONTRACT_OPERATIONS if key[1].startswith("/v1/")} <= set(declared)
    for (method, path), security in declared.items():
        expected = [{"HTTPBearer": []}] if path.startswith("/v1/") else None
        assert security == expected, (method, path)


IDEMPOTENT_WRITES = {
    ("post", "/v1/accounts"),
    ("patch", "/v1/accounts/{account_id}"),
    ("post", "/v1/api-keys"),
    ("post", "/v1/transactions"),
    ("post", "/v1/transactions/batch"),
    ("post", "/v1/transactions/{transaction_id}/post"),
    ("post", "/v1/transactions/{transaction_id}/reverse"),
    ("post", "/v1/transactions/{transaction_id}/void"),
    ("post", "/v1/transfers"),
    ("post", "/v1/webhook-endpoints"),
}


def test_openapi_declares_the_idempotency_key_on_every_write_that_reads_it() -> None:
    """The routes read the header from the request; their documents still declare it, once."""
    document = create_app(Settings(database_url="sqlite://", worker=False)).openapi()
    declared: dict[tuple[str, str], list[dict[str, object]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            headers = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            if headers:
                declared[(method, path)] = headers
    assert set(declared) == IDEMPOTENT_WRITES
    for headers in declared.values():
        assert headers == [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": (
                    "1 to 255 printable characters; the same key and request replay the result"
                ),
                "schema": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "title": "Idempotency-Key",
                    "description": (
                        "1 to 255 printable characters; the same key and request replay the result"
                    ),
                },
            }
        ]


# -- integrity -------------------------------------------------------------------------------


def test_the_head_of_an_empty_ledger(api: httpx.Client) -> None:
    """GET /v1/ledger/head of a new tenant answers {seq: 0, hash, at: null}."""
    response = api.get("/v1/ledger/head")
    assert response.status_code == 200
    head = response.json()
    assert set(head) == {"seq", "hash", "at"}
    assert head["seq"] == 0
    assert head["at"] is None
    assert isinstance(head["hash"], str)


def test_the_head_is_the_last_link(api: httpx.Client) -> None:
    """After a transaction the head carries its seq, hash and time."""
    books(api)
    last = transfer(api, "alice", "bob", 1)
    head = api.get("/v1/ledger/head").json()
    assert (head["seq"], head["hash"], head["at"]) == (
        last["seq"],
        last["hash"],
        last["created_at"],
    )


def test_verify_an_intact_ledger(api: httpx.Client) -> None:
    """POST /v1/ledger/verify answers ok with every entry checked and no drift."""
    books(api)
    response = api.post("/v1/ledger/verify")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "checked": api.get("/v1/ledger/head").json()["seq"],
        "first_bad_seq": None,
        "balances_ok": True,
        "drift": [],
    }


def test_verify_reports_a_balance_changed_behind_the_ledger(
    server: Server, api: httpx.Client
) -> None:
    """A running sum altered in the database shows as drift with stored and replayed sums."""
    books(api)
    engine = create_db_engine(server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == "bob")
                .values(posted_credits=accounts.c.posted_credits + 7)
            )
    finally:
        engine.dispose()
    report = api.post("/v1/ledger/verify").json()
    assert report["ok"] is False
    assert report["balances_ok"] is False
    assert report["first_bad_seq"] is None
    assert [d["account"] for d in report["drift"]] == ["bob"]
    drift = report["drift"][0]
    assert drift["stored"]["posted_credits"] - drift["replayed"]["posted_credits"] == 7
