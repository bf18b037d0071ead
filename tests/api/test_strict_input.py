"""Strict input over real HTTP: printable identifiers, strict JSON bodies and cursors,
and a problem document for a request the HTTP parser refuses (API.md, Conventions)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from strongroom.api.middleware import RequestId
from tests.api.conftest import Server
from tests.api.problems import create, problem

DEEP = 1000


def posted(api: httpx.Client, account_id: str) -> int:
    response = api.get(f"/v1/accounts/{account_id}/balance")
    assert response.status_code == 200, response.text
    value: int = response.json()["posted"]
    return value


def send_json(api: httpx.Client, method: str, path: str, text: str, **headers: str) -> Any:
    """Send ``text`` as it is (duplicate keys, escapes and all) as a JSON body."""
    headers.setdefault("content-type", "application/json")
    return api.request(method, path, content=text.encode(), headers=headers)


def body_problem(response: httpx.Response) -> dict[str, Any]:
    """The 400 VALIDATION_ERROR of a body refused as not strict JSON."""
    body = problem(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["loc"] == ["body"]
    assert "not strict JSON" in body["detail"]
    return body


def cursor_of(kind: str, position: str) -> str:
    """A cursor as the server encodes one, around ``position`` (raw JSON text)."""
    raw = f'["{kind}", {position}]'.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- identifiers -------------------------------------------------------------------------------

CONTROL_IDS = ["x\n", "x\r\n", "\nx", "x\ty", "x\x7f", "x\x85", "x\x00"]
CONTROL_ID_NAMES = ["trailing-lf", "trailing-crlf", "leading-lf", "tab", "del", "c1-nel", "nul"]


@pytest.mark.parametrize("account_id", CONTROL_IDS, ids=CONTROL_ID_NAMES)
def test_an_account_id_with_a_control_character_is_refused(
    api: httpx.Client, account_id: str
) -> None:
    """Creating an account whose id holds a control character answers 400 on ``id``."""
    response = api.post("/v1/accounts", json={"id": account_id, "currency": "USD"})
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == ["id"]


@pytest.mark.parametrize(
    "path",
    ["/v1/accounts/x%0A", "/v1/accounts/x%0A/balance", "/v1/accounts/x%0A/statement"],
    ids=["account", "balance", "statement"],
)
def test_an_id_with_a_control_character_is_not_found(api: httpx.Client, path: str) -> None:
    """``x\\n`` answers 404 NOT_FOUND like any missing id, even while ``x`` exists."""
    create(api, "x")
    problem(api.get(path), 404, "NOT_FOUND")


def test_a_transfer_from_an_id_with_a_trailing_newline_is_refused(funded: httpx.Client) -> None:
    """``"from": "alice\\n"`` answers 400 on ``from`` and moves nothing."""
    body = {"from": "alice\n", "to": "bob", "amount": 5, "currency": "USD"}
    response = funded.post("/v1/transfers", json=body)
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == ["from"]
    assert posted(funded, "bob") == 0


@pytest.mark.parametrize("kind", ["deposit\n", "dep\tosit", "\x1b[31m"], ids=["lf", "tab", "esc"])
def test_a_kind_with_a_control_character_is_refused(funded: httpx.Client, kind: str) -> None:
    """A transaction kind holding a control character answers 400 on ``kind``."""
    body = {"from": "alice", "to": "bob", "amount": 5, "currency": "USD", "kind": kind}
    response = funded.post("/v1/transfers", json=body)
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == ["kind"]


def test_a_currency_with_a_trailing_newline_is_unknown(api: httpx.Client) -> None:
    """``"USD\\n"`` is no currency: creating an account in it is refused."""
    response = api.post("/v1/accounts", json={"id": "a", "currency": "USD\n"})
    assert response.status_code in {400, 422}, response.text
    problem(api.get("/v1/accounts/a"), 404, "NOT_FOUND")


# -- strict JSON bodies --------------------------------------------------------------------------


def test_a_duplicate_key_in_a_body_is_refused(funded: httpx.Client) -> None:
    """``{"amount": 5, "amount": 7}`` answers 400 and transfers nothing (not the last value)."""
    text = '{"from": "alice", "to": "bob", "amount": 5, "amount": 7, "currency": "USD"}'
    body_problem(send_json(funded, "POST", "/v1/transfers", text))
    assert posted(funded, "bob") == 0


def test_a_duplicate_key_in_a_nested_object_is_refused(api: httpx.Client) -> None:
    """A duplicate key inside ``metadata`` is refused too, and no account is created."""
    text = '{"id": "a", "currency": "USD", "metadata": {"k": "1", "k": "2"}}'
    body_problem(send_json(api, "POST", "/v1/accounts", text))
    problem(api.get("/v1/accounts/a"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "a", "currency": "USD", "metadata": {"k": "\\ud800"}}',
        '{"id": "a", "currency": "USD", "metadata": {"\\udc00": "v"}}',
        '{"id": "a", "currency": "USD", "metadata": {"k": "\\ude00\\ud83d"}}',
    ],
    ids=["high-in-value", "low-in-key", "pair-reversed"],
)
def test_a_lone_surrogate_in_a_body_is_refused(api: httpx.Client, text: str) -> None:
    """A ``\\ud800``-style escape without its pair answers 400 on ``body``."""
    body_problem(send_json(api, "POST", "/v1/accounts", text))


def test_an_escaped_surrogate_pair_in_a_body_is_accepted(api: httpx.Client) -> None:
    """``"\\ud83d\\ude00"`` is one character, 😀, and is stored as such."""
    text = '{"id": "a", "currency": "USD", "metadata": {"k": "\\ud83d\\ude00"}}'
    response = send_json(api, "POST", "/v1/accounts", text)
    assert response.status_code == 201, response.text
    assert api.get("/v1/accounts/a").json()["metadata"] == {"k": "\U0001f600"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_number_in_a_body_is_refused(funded: httpx.Client, number: str) -> None:
    """``NaN``, ``Infinity``, ``-Infinity`` and a number beyond a double answer 400 on ``body``."""
    text = f'{{"from": "alice", "to": "bob", "amount": {number}, "currency": "USD"}}'
    body_problem(send_json(funded, "POST", "/v1/transfers", text))


@pytest.mark.parametrize("depth", [65, DEEP, 100_000], ids=["65", "1000", "100000"])
def test_a_body_nested_deeper_than_64_is_refused(api: httpx.Client, depth: int) -> None:
    """Arrays and objects nested more than 64 deep answer 400 on ``body``, never a 500."""
    text = '{"currency": "USD", "metadata": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    body = body_problem(send_json(api, "POST", "/v1/accounts", text))
    assert "nesting deeper than 64" in body["detail"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.api+json",
    ],
)
def test_a_body_of_any_json_content_type_is_checked(
    funded: httpx.Client, content_type: str
) -> None:
    """A duplicate key is refused whichever JSON media type names the body."""
    text = '{"status": "frozen", "status": "active"}'
    response = send_json(
        funded, "PATCH", "/v1/accounts/bob", text, **{"content-type": content_type}
    )
    body_problem(response)
    assert funded.get("/v1/accounts/bob").json()["status"] == "active"


@pytest.mark.parametrize(
    "headers", [{}, {"content-type": "text/plain"}], ids=["no-content-type", "text-plain"]
)
def test_a_body_not_typed_as_json_is_a_validation_error(
    funded: httpx.Client, headers: dict[str, str]
) -> None:
    """A JSON route does not read a body of another media type: 400 and nothing moves."""
    text = '{"from": "alice", "to": "bob", "amount": 5, "currency": "USD"}'
    response = funded.post("/v1/transfers", content=text.encode(), headers=headers)
    problem(response, 400, "VALIDATION_ERROR")
    assert posted(funded, "bob") == 0


def test_a_strict_body_sent_in_chunks_reaches_the_route_whole(api: httpx.Client) -> None:
    """A chunked body is read whole, checked, and handed on unchanged."""

    def chunks() -> Iterator[bytes]:
        yield b'{"id": "chunked", "curr'
        yield b'ency": "USD", "metadata": {"k": "' + b"x" * 300 + b'"}}'

    response = api.post(
        "/v1/accounts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == {"k": "x" * 300}


# -- strict cursors -------------------------------------------------------------------------------

LONE_SURROGATE_CURSORS = {
    "accounts": ("/v1/accounts", "cursor", cursor_of("accounts", '"\\ud800"')),
    "api-keys": ("/v1/api-keys", "cursor", cursor_of("api_keys", '"\\ud800"')),
    "webhook-endpoints": (
        "/v1/webhook-endpoints",
        "cursor",
        cursor_of("webhook_endpoints", '"\\ud800"'),
    ),
    "checkpoints": ("/v1/ledger/checkpoints", "cursor", cursor_of("checkpoints", '[1, "\\ud800"]')),
}


@pytest.mark.parametrize("case", LONE_SURROGATE_CURSORS)
def test_a_cursor_holding_a_lone_surrogate_is_a_validation_error(
    api: httpx.Client, case: str
) -> None:
    """A cursor decoding to ``"\\ud800"`` answers 400 on ``cursor``, not 500."""
    path, name, cursor = LONE_SURROGATE_CURSORS[case]
    response = api.get(path, params={name: cursor})
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == [name]


def test_the_reported_lone_surrogate_cursor_is_a_validation_error(api: httpx.Client) -> None:
    """The outside test's cursor, ``["accounts", "\\ud800"]`` with a space, answers 400."""
    response = api.get("/v1/accounts", params={"cursor": "WyJhY2NvdW50cyIsICJcdWQ4MDAiXQ"})
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == ["cursor"]


NESTED = "[" * DEEP + "]" * DEEP
DEEP_CURSORS = {
    "accounts": ("/v1/accounts", "cursor", "accounts"),
    "transactions": ("/v1/transactions", "cursor", "transactions"),
    "statement": ("/v1/accounts/alice/statement", "cursor", "statement"),
    "checkpoints": ("/v1/ledger/checkpoints", "cursor", "checkpoints"),
    "api-keys": ("/v1/api-keys", "cursor", "api_keys"),
    "webhook-endpoints": ("/v1/webhook-endpoints", "cursor", "webhook_endpoints"),
    "events-after": ("/v1/events", "after", "events"),
}


@pytest.mark.parametrize("case", DEEP_CURSORS)
def test_a_cursor_nested_a_thousand_deep_is_a_validation_error(
    funded: httpx.Client, case: str
) -> None:
    """A cursor holding JSON nested 1,000 deep answers 400, not 500."""
    path, name, kind = DEEP_CURSORS[case]
    response = funded.get(path, params={name: cursor_of(kind, NESTED)})
    problem(response, 400, "VALIDATION_ERROR")


def test_a_cursor_with_a_duplicate_key_is_a_validation_error(api: httpx.Client) -> None:
    """Cursors are decoded as strictly as bodies: a duplicate key answers 400."""
    raw = b'{"a": 1, "a": 2}'
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = api.get("/v1/accounts", params={"cursor": cursor})
    assert problem(response, 400, "VALIDATION_ERROR")["errors"][0]["loc"] == ["cursor"]


# -- headers ---------------------------------------------------------------------------------------


def raw_exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` bytes as they are over a socket; the status, headers and body."""
    address = urlsplit(server.base_url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def raw_create(server: Server, key: str, idempotency_key: bytes, account_id: str = "a") -> bytes:
    body = json.dumps({"id": account_id, "currency": "USD"}).encode()
    return b"".join(
        [
            b"POST /v1/accounts HTTP/1.1\r\n",
            b"Host: 127.0.0.1\r\n",
            b"Authorization: Bearer " + key.encode() + b"\r\n",
            b"Idempotency-Key: " + idempotency_key + b"\r\n",
            b"Content-Type: application/json\r\n",
            b"Content-Length: " + str(len(body)).encode() + b"\r\n",
            b"Connection: close\r\n",
            b"\r\n",
            body,
        ]
    )


@pytest.fixture
def key(new_tenant: Any) -> str:
    """The all-scopes key of a fresh tenant."""
    secret: str = new_tenant("acme")[1]
    return secret


@pytest.mark.parametrize(
    "value", [b"a\x7fb", b"a\x01b", b"a\x00b", b"a\x1bb"], ids=["del", "soh", "nul", "esc"]
)
def test_a_control_character_in_a_header_is_a_problem_document(
    server: Server, key: str, value: bytes
) -> None:
    """A header the HTTP parser refuses answers a 400 VALIDATION_ERROR problem, not plain text."""
    status, headers, payload = raw_exchange(server, raw_create(server, key, value))
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    body = json.loads(payload)
    assert (body["status"], body["code"]) == (400, "VALIDATION_ERROR")
    assert body["request_id"] == headers["x-request-id"]


def test_a_control_character_in_the_request_line_is_a_problem_document(server: Server) -> None:
    """A URL holding DEL, refused by the HTTP parser, answers a 400 problem document."""
    request = b"GET /v1/accounts/a\x7fb HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, headers, payload = raw_exchange(server, request)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(payload)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("value", [b"a\tb", b"a\x80b", b"a\xffb"], ids=["tab", "x80", "xff"])
def test_an_idempotency_key_the_parser_passes_is_checked_by_the_app(
    server: Server, key: str, value: bytes
) -> None:
    """A tab or a byte over 0x7F in Idempotency-Key reaches the app: 400, and nothing created."""
    status, headers, payload = raw_exchange(server, raw_create(server, key, value))
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    body = json.loads(payload)
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["loc"] == ["idempotency_key"]
    with server.client(key) as api:
        problem(api.get("/v1/accounts/a"), 404, "NOT_FOUND")


def test_a_request_id_with_a_trailing_newline_is_replaced() -> None:
    """An incoming ``X-Request-Id: trace\\n`` is not echoed: a fresh id is made."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"x-request-id", b"trace\n")]}
    asyncio.run(RequestId(app)(scope, receive, send))
    echoed = dict(sent[0]["headers"])[b"x-request-id"]
    assert echoed.startswith(b"req_")
