"""The OpenAPI document names the problems each route answers: every one, and only those.

The static tests read the document. The others drive each operation through its
error paths on a real server whose app records, as a pure ASGI layer outside
everything else, the (method, route template, status, code) of every error it
answers; then they compare what was answered with what is documented, both ways.
Only ``INTERNAL_ERROR`` and ``STORAGE_UNAVAILABLE`` are documented and not driven
(an unexpected failure; a database that cannot be reached), except on /readyz.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import tests.api.conftest as api_conftest
from strongroom.api.app import create_app
from strongroom.api.settings import Settings
from strongroom.domain.errors import all_error_classes
from strongroom.store.database import create_db_engine
from tests.api.conftest import Server

PROBLEM = "application/problem+json"
UNDRIVEN = {"INTERNAL_ERROR", "STORAGE_UNAVAILABLE"}
MAX = 2**63 - 1
ONE_MIB = 1024 * 1024
JSON = {"content-type": "application/json"}
HOOK = "http://127.0.0.1:9/hook"  # allowed by the test server; nothing listens there

Operation = tuple[str, str]
"""(method in lower case, path template), as the OpenAPI document keys operations."""
Answer = tuple[str, str | None, int, str]
"""(method, route template or None, status, code) of an error the server answered."""

ACCOUNTS: list[Operation] = [
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{account_id}"),
    ("patch", "/v1/accounts/{account_id}"),
    ("get", "/v1/accounts/{account_id}/balance"),
    ("get", "/v1/accounts/{account_id}/statement"),
]
TRANSACTIONS: list[Operation] = [
    ("post", "/v1/transactions"),
    ("post", "/v1/transfers"),
    ("post", "/v1/transactions/batch"),
    ("get", "/v1/transactions/{transaction_id}"),
    ("get", "/v1/transactions"),
]
HOLDS: list[Operation] = [
    ("post", "/v1/transactions/{transaction_id}/post"),
    ("post", "/v1/transactions/{transaction_id}/void"),
]
REVERSALS: list[Operation] = [("post", "/v1/transactions/{transaction_id}/reverse")]
WEBHOOKS: list[Operation] = [
    ("post", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints/{endpoint_id}"),
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"),
    ("delete", "/v1/webhook-endpoints/{endpoint_id}"),
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
    ("get", "/v1/webhook-endpoints/{endpoint_id}/deliveries"),
    ("get", "/v1/webhook-deliveries/{delivery_id}"),
    ("post", "/v1/webhook-deliveries/{delivery_id}/retry"),
]
ACCESS: list[Operation] = [
    ("post", "/v1/tenants"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{key_id}"),
]
INTEGRITY: list[Operation] = [
    ("get", "/v1/ledger/head"),
    ("post", "/v1/ledger/verify"),
    ("get", "/v1/ledger/checkpoints"),
    ("get", "/v1/events"),
]
SERVICE: list[Operation] = [("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")]
GROUPS = [ACCOUNTS, TRANSACTIONS, HOLDS, REVERSALS, WEBHOOKS, ACCESS, INTEGRITY, SERVICE]


# -- reading the document --------------------------------------------------------------------


def operations_of(document: dict[str, Any]) -> Iterator[tuple[Operation, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield (method, path), operation


def codes_of(response: dict[str, Any]) -> set[str]:
    """The codes a documented problem response enumerates on ``code``."""
    schema = response.get("content", {}).get(PROBLEM, {}).get("schema", {})
    found: set[str] = set()
    for part in schema.get("allOf", []):
        found.update(part.get("properties", {}).get("code", {}).get("enum", []))
    return found


def documented(document: dict[str, Any]) -> dict[Operation, set[tuple[int, str]]]:
    """Per operation, every (status, code) its document says it can answer."""
    return {
        operation: {
            (int(status), code)
            for status, response in spec["responses"].items()
            for code in codes_of(response)
        }
        for operation, spec in operations_of(document)
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The app's OpenAPI document (no server or database needed to make it)."""
    return create_app(Settings(database_url="sqlite://", worker=False)).openapi()


# -- the recording server --------------------------------------------------------------------


class Recorder:
    """Record every error response of the app it wraps, with the operation it was for."""

    def __init__(self, app: ASGIApp, answers: list[Answer], router: Router) -> None:
        self.app = app
        self.answers = answers
        self.router = router

    def template(self, scope: Scope) -> str | None:
        for route in self.router.routes:
            if isinstance(route, APIRoute) and route.matches(scope)[0] is Match.FULL:
                return route.path
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        template = self.template(scope)
        start: dict[str, Any] = {}
        body = bytearray()

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body" and start["status"] >= 400:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self.record(scope["method"].lower(), template, start, bytes(body))
            await send(message)

        await self.app(scope, receive, recording)

    def record(self, method: str, template: str | None, start: Message, body: bytes) -> None:
        headers = {name.lower(): value for name, value in start.get("headers", [])}
        is_problem = headers.get(b"content-type", b"").startswith(PROBLEM.encode())
        code = json.loads(body)["code"] if is_problem else "<not a problem document>"
        self.answers.append((method, template, start["status"], code))


@pytest.fixture(autouse=True)
def answers(monkeypatch: pytest.MonkeyPatch) -> list[Answer]:
    """The errors answered by this test's server (its app is wrapped by a Recorder)."""
    seen: list[Answer] = []

    def recording_app(settings: Settings) -> FastAPI:
        app = create_app(settings)
        app.add_middleware(Recorder, answers=seen, router=app.router)
        return app

    monkeypatch.setattr(api_conftest, "create_app", recording_app)
    return seen


def undocumented(answers: list[Answer], document: dict[str, Any]) -> list[Answer]:
    docs = documented(document)
    return [
        answer
        for answer in answers
        if answer[1] is None or answer[2:] not in docs.get((answer[0], answer[1]), set())
    ]


def unanswered(
    answers: list[Answer], document: dict[str, Any], operations: list[Operation]
) -> list[tuple[Operation, int, str]]:
    seen = set(answers)
    return sorted(
        (operation, status, code)
        for operation in operations
        for status, code in documented(document)[operation]
        if code not in UNDRIVEN and (*operation, status, code) not in seen
    )


@pytest.fixture
def limited(api: httpx.Client) -> str:
    """A key of the same tenant with only the ``payments:write`` scope."""
    response = api.post("/v1/api-keys", json={"name": "payments", "scopes": ["payments:write"]})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def fill(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "missing", template)


def drive_common(
    server: Server, key: str, limited: str, document: dict[str, Any], group: list[Operation]
) -> None:
    """What every operation of ``group`` can be sent whatever the tenant holds: no
    credential, a key without the scope, a malformed or oversized request, an unknown id."""
    for method, template in group:
        operation = document["paths"][template][method]
        path = fill(template)
        names = {p["name"] for p in operation.get("parameters", [])}
        has_body = "requestBody" in operation
        with server.client() as anonymous:
            anonymous.request(method, path)
        with server.client(limited) as client:
            client.request(method, path, json={} if has_body else None)
        owner = server.admin_token if template == "/v1/tenants" else key
        with server.client(owner) as client:
            if has_body:
                client.request(method, path, content=b"{", headers=JSON)
                client.request(method, path, content=b" " * (ONE_MIB + 1), headers=JSON)
            elif "limit" in names:
                client.request(method, path, params={"limit": 0})
            elif "Idempotency-Key" in names:
                client.request(method, path, headers={"Idempotency-Key": "k" * 256})
            elif "at" in names:
                client.request(method, path, params={"at": "yesterday"})
            else:  # any request with a JSON body is checked, even where none is read
                client.request(method, path, content=b"{", headers=JSON)
            if "{" in template:
                client.request(method, path, json={} if has_body else None)


def check(
    answers: list[Answer], document: dict[str, Any], group: list[Operation]
) -> tuple[list[Answer], list[tuple[Operation, int, str]]]:
    """(answers not documented, documented problems of ``group`` not answered)."""
    return undocumented(answers, document), unanswered(answers, document, group)


def key_of(client: httpx.Client) -> str:
    return client.headers["authorization"].removeprefix("Bearer ")


def created(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def refused(response: httpx.Response, code: str) -> None:
    """Check that ``response`` is the problem ``code`` (the recorder keeps it too)."""
    assert response.json().get("code") == code, response.text


def account(api: httpx.Client, account_id: str, currency: str = "USD", **fields: Any) -> None:
    created(api.post("/v1/accounts", json={"id": account_id, "currency": currency, **fields}))


def status(api: httpx.Client, account_id: str, value: str) -> None:
    created(api.patch(f"/v1/accounts/{account_id}", json={"status": value}))


def transfer(
    api: httpx.Client, source: str, to: str, amount: int, *, key: str | None = None, **fields: Any
) -> httpx.Response:
    body = {"from": source, "to": to, "amount": amount, "currency": "USD", **fields}
    headers = {"Idempotency-Key": key} if key else {}
    return api.post("/v1/transfers", json=body, headers=headers)


def moved(api: httpx.Client, source: str, to: str, amount: int, **fields: Any) -> str:
    """The id of a transfer that must succeed."""
    return str(created(transfer(api, source, to, amount, **fields))["id"])


def post(
    api: httpx.Client,
    *spec: tuple[str, str, int],
    currency: str = "USD",
    key: str | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST /v1/transactions with lines given as (account, side, amount)."""
    body = {
        "lines": [{"account": a, "side": side, "amount": amount} for a, side, amount in spec],
        "currency": currency,
        **fields,
    }
    headers = {"Idempotency-Key": key} if key else {}
    return api.post("/v1/transactions", json=body, headers=headers)


# -- the document ----------------------------------------------------------------------------


def test_every_documented_code_is_a_strongroom_code_of_that_status(
    document: dict[str, Any],
) -> None:
    """Each documented code is a code of strongroom.domain.errors with the documented status."""
    statuses = {error.code: error.http_status for error in all_error_classes()}
    wrong = [
        (operation, status, code)
        for operation, problems in documented(document).items()
        for status, code in problems
        if statuses.get(code) != status
    ]
    assert wrong == []


def test_errors_are_documented_as_problem_documents_only(document: dict[str, Any]) -> None:
    """Every 4xx and 5xx response is application/problem+json with codes, nothing else."""
    wrong = [
        (operation, status, sorted(response.get("content", {})))
        for operation, spec in operations_of(document)
        for status, response in spec["responses"].items()
        if int(status) >= 400
        and (set(response.get("content", {})) != {PROBLEM} or not codes_of(response))
    ]
    assert wrong == []


def test_every_operation_documents_the_problems_any_route_can_answer(
    document: dict[str, Any],
) -> None:
    """400 and 500 everywhere; 401 and 503 behind a credential; 413 where a body is taken."""
    missing = []
    for operation, spec in operations_of(document):
        needed = {400, 500}
        if spec.get("security"):
            needed |= {401, 503}
        if "requestBody" in spec:
            needed.add(413)
        statuses = {int(status) for status in spec["responses"]}
        if needed - statuses:
            missing.append((operation, sorted(needed - statuses)))
    assert missing == []


def test_no_operation_documents_a_422_for_validation(document: dict[str, Any]) -> None:
    """Malformed requests are 400: no 422 lists VALIDATION_ERROR, no FastAPI validation schema."""
    validation_422 = [
        operation
        for operation, spec in operations_of(document)
        if "VALIDATION_ERROR" in codes_of(spec["responses"].get("422", {}))
        or (spec["responses"].get("422") and not codes_of(spec["responses"]["422"]))
    ]
    assert validation_422 == []
    assert "HTTPValidationError" not in json.dumps(document)
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_the_drivers_below_cover_every_operation(document: dict[str, Any]) -> None:
    """Each operation of the document belongs to exactly one group driven below."""
    grouped = [operation for group in GROUPS for operation in group]
    assert sorted(grouped) == sorted(operation for operation, _ in operations_of(document))


# -- what the routes answer ------------------------------------------------------------------


def test_account_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """The account routes answer every problem they document, and no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, ACCOUNTS)
    account(api, "a")
    refused(api.post("/v1/accounts", json={"id": "a", "currency": "USD"}), "ALREADY_EXISTS")
    refused(api.post("/v1/accounts", json={"currency": "QQQ"}), "UNKNOWN_CURRENCY")
    key = {"Idempotency-Key": "create-b"}
    created(api.post("/v1/accounts", json={"id": "b", "currency": "USD"}, headers=key))
    refused(
        api.post("/v1/accounts", json={"id": "c", "currency": "USD"}, headers=key),
        "IDEMPOTENCY_KEY_REUSED",
    )
    status(api, "a", "closed")
    refused(api.patch("/v1/accounts/a", json={"status": "active"}), "INVALID_STATE")
    key = {"Idempotency-Key": "freeze-b"}
    created(api.patch("/v1/accounts/b", json={"status": "frozen"}, headers=key))
    refused(
        api.patch("/v1/accounts/b", json={"status": "active"}, headers=key),
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert check(answers, document, ACCOUNTS) == ([], [])


def test_transaction_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """The routes that make and read transactions answer every problem they document, no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, TRANSACTIONS)
    for account_id in ("@world", "@mint"):
        account(api, account_id, overdraft_limit=None)
    for account_id in ("alice", "bob", "frozen", "closed", "rich"):
        account(api, account_id)
    account(api, "euro", currency="EUR")
    status(api, "frozen", "frozen")
    status(api, "closed", "closed")
    refusals = {
        "NOT_FOUND": ("@world", "nobody", "USD"),
        "INSUFFICIENT_FUNDS": ("alice", "bob", "USD"),
        "CURRENCY_MISMATCH": ("@world", "euro", "USD"),
        "ACCOUNT_FROZEN": ("@world", "frozen", "USD"),
        "ACCOUNT_CLOSED": ("@world", "closed", "USD"),
        "UNKNOWN_CURRENCY": ("@world", "bob", "QQQ"),
    }
    for code, (source, to, currency) in refusals.items():
        refused(post(api, (source, "debit", 5), (to, "credit", 5), currency=currency), code)
        refused(transfer(api, source, to, 5, currency=currency), code)
    refused(post(api, ("@world", "debit", 10), ("bob", "credit", 5)), "UNBALANCED_TRANSACTION")
    half = 2**62  # two of them make 2^63, over the largest amount
    debits = [("@world", "debit", half), ("alice", "debit", half)]
    credits = [("bob", "credit", half), ("rich", "credit", half)]
    refused(post(api, *debits, *credits), "AMOUNT_OVERFLOW")
    moved(api, "@mint", "rich", MAX)
    refused(transfer(api, "@world", "rich", 1), "AMOUNT_OVERFLOW")
    created(transfer(api, "@world", "bob", 1, key="reused"))
    refused(transfer(api, "@world", "bob", 2, key="reused"), "IDEMPOTENCY_KEY_REUSED")
    refused(
        post(api, ("@world", "debit", 1), ("bob", "credit", 1), key="reused"),
        "IDEMPOTENCY_KEY_REUSED",
    )
    item = {
        "lines": [
            {"account": "@world", "side": "debit", "amount": 1},
            {"account": "bob", "side": "credit", "amount": 1},
        ],
        "currency": "USD",
    }
    key = {"Idempotency-Key": "batch"}
    created(api.post("/v1/transactions/batch", json={"transactions": [item]}, headers=key))
    refused(
        api.post("/v1/transactions/batch", json={"transactions": [item, item]}, headers=key),
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert check(answers, document, TRANSACTIONS) == ([], [])


def test_hold_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """Posting and voiding holds answer every problem they document, and no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, HOLDS)
    for account_id in ("@world", "@mint"):
        account(api, account_id, overdraft_limit=None)
    for account_id in ("alice", "bob", "rich"):
        account(api, account_id)
    posted = moved(api, "@world", "alice", 10)
    for finish in ("post", "void"):
        refused(api.post(f"/v1/transactions/{posted}/{finish}"), "HOLD_NOT_PENDING")
    hold = moved(api, "@world", "bob", 10, pending=True)
    refused(api.post(f"/v1/transactions/{hold}/post", json={"amount": 11}), "AMOUNT_EXCEEDS_HOLD")
    split = [("@world", "debit", 10), ("alice", "credit", 5), ("bob", "credit", 5)]
    three_lines = created(post(api, *split, pending=True))["id"]
    partly = api.post(f"/v1/transactions/{three_lines}/post", json={"amount": 5})
    refused(partly, "INVALID_STATE")  # only a two-line hold is posted in part
    status(api, "bob", "frozen")
    refused(api.post(f"/v1/transactions/{hold}/post"), "ACCOUNT_FROZEN")
    moved(api, "@world", "rich", 1)
    big = moved(api, "@mint", "rich", MAX, pending=True)
    refused(api.post(f"/v1/transactions/{big}/post"), "AMOUNT_OVERFLOW")
    for finish in ("post", "void"):
        first = moved(api, "@world", "alice", 1, pending=True)
        second = moved(api, "@world", "alice", 1, pending=True)
        key = {"Idempotency-Key": f"{finish}-once"}
        created(api.post(f"/v1/transactions/{first}/{finish}", headers=key))
        reused = api.post(f"/v1/transactions/{second}/{finish}", headers=key)
        refused(reused, "IDEMPOTENCY_KEY_REUSED")
    assert check(answers, document, HOLDS) == ([], [])


def test_reversals_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """Reversing a transaction answers every problem it documents, and no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, REVERSALS)
    for account_id in ("@world", "@mint"):
        account(api, account_id, overdraft_limit=None)
    for account_id in ("alice", "bob", "carol", "dave", "erin"):
        account(api, account_id)
    spent = moved(api, "@world", "alice", 100)
    moved(api, "alice", "bob", 100)
    refused(api.post(f"/v1/transactions/{spent}/reverse"), "INSUFFICIENT_FUNDS")
    frozen = moved(api, "@world", "carol", 10)
    status(api, "carol", "frozen")
    refused(api.post(f"/v1/transactions/{frozen}/reverse"), "ACCOUNT_FROZEN")
    closed = moved(api, "@world", "dave", 10)
    moved(api, "dave", "@world", 10)
    status(api, "dave", "closed")
    refused(api.post(f"/v1/transactions/{closed}/reverse"), "ACCOUNT_CLOSED")
    huge = moved(api, "@mint", "erin", MAX)
    moved(api, "erin", "@mint", MAX)
    refused(api.post(f"/v1/transactions/{huge}/reverse"), "AMOUNT_OVERFLOW")
    key = {"Idempotency-Key": "reverse-once"}
    created(api.post(f"/v1/transactions/{moved(api, '@world', 'bob', 1)}/reverse", headers=key))
    reversible = moved(api, "@world", "bob", 2)
    refused(
        api.post(f"/v1/transactions/{reversible}/reverse", headers=key), "IDEMPOTENCY_KEY_REUSED"
    )
    created(api.post(f"/v1/transactions/{reversible}/reverse"))
    refused(api.post(f"/v1/transactions/{reversible}/reverse"), "INVALID_STATE")
    assert check(answers, document, REVERSALS) == ([], [])


def test_webhook_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """The webhook endpoint and delivery routes answer every problem they document, no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, WEBHOOKS)
    key = {"Idempotency-Key": "hook-once"}
    endpoint = created(
        api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["*"]}, headers=key)
    )
    refused(
        api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["a.b"]}, headers=key),
        "IDEMPOTENCY_KEY_REUSED",
    )
    account(api, "a")  # an event, so a delivery to the endpoint, which nothing answers
    deadline = time.monotonic() + 15
    deliveries: list[Any] = []
    while not deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
        deliveries = created(api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))["data"]
    assert deliveries, "no delivery was made"
    retry = api.post(f"/v1/webhook-deliveries/{deliveries[0]['id']}/retry")
    refused(retry, "INVALID_STATE")  # still pending: it is being tried
    assert check(answers, document, WEBHOOKS) == ([], [])


def test_access_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """The tenant and API key routes answer every problem they document, and no other."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, ACCESS)
    with server.client(server.admin_token) as admin:
        refused(admin.post("/v1/tenants", json={"name": "acme"}), "ALREADY_EXISTS")
    with server.client(key_of(api)) as tenant_key:
        refused(tenant_key.post("/v1/tenants", json={"name": "other"}), "UNAUTHENTICATED")
    key = {"Idempotency-Key": "key-once"}
    created(api.post("/v1/api-keys", json={"name": "r", "scopes": ["ledger:read"]}, headers=key))
    refused(
        api.post("/v1/api-keys", json={"name": "w", "scopes": ["ledger:write"]}, headers=key),
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert check(answers, document, ACCESS) == ([], [])


def test_integrity_and_event_routes_answer_exactly_their_documented_problems(
    server: Server, api: httpx.Client, limited: str, answers: list[Answer]
) -> None:
    """The chain head, verify, checkpoints and events answer every problem they document."""
    document = created(api.get("/openapi.json"))
    drive_common(server, key_of(api), limited, document, INTEGRITY)
    assert check(answers, document, INTEGRITY) == ([], [])


def test_service_routes_answer_exactly_their_documented_problems(
    server: Server, answers: list[Answer], db_url: str
) -> None:
    """The probes and metrics answer every problem they document, and no other."""
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:
            # A schema that is not the code's: /readyz answers 503 STORAGE_UNAVAILABLE.
            conn.execute(text("UPDATE alembic_version SET version_num = 'not_yet'"))
    finally:
        engine.dispose()
    with server.client() as anonymous:
        document = created(anonymous.get("/openapi.json"))
        for method, path in SERVICE:
            anonymous.request(method, path, content=b"{", headers=JSON)
        refused(anonymous.get("/readyz"), "STORAGE_UNAVAILABLE")
    assert check(answers, document, SERVICE) == ([], [])
    assert ("get", "/readyz", 503, "STORAGE_UNAVAILABLE") in answers
