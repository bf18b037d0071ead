"""Contract of the cross-cutting rules: amounts, problem documents, request ids, limits."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server
from tests.api.problems import create

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}
BAD_AMOUNTS = [1.0, 1.5, "1", "1.0", True, False, 0, -1, 2**63, 2**64, [1], {"v": 1}]
ONE_MIB = 1024 * 1024


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of ``response``, checked to carry ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert all(isinstance(body[field], str) for field in PROBLEM_FIELDS - {"status"})
    return body


@pytest.fixture
def key(new_tenant: Callable[[str], tuple[str, str]]) -> str:
    """The all-scopes key of a fresh tenant."""
    return new_tenant("acme")[1]


# -- amounts ---------------------------------------------------------------------------------


def _transfer(api: httpx.Client, amount: Any) -> httpx.Response:
    body = {"from": "alice", "to": "bob", "amount": amount, "currency": "USD"}
    return api.post("/v1/transfers", json=body)


def _transaction(api: httpx.Client, amount: Any) -> httpx.Response:
    lines = [
        {"account": "alice", "side": "debit", "amount": amount},
        {"account": "bob", "side": "credit", "amount": amount},
    ]
    return api.post("/v1/transactions", json={"lines": lines, "currency": "USD"})


def _batch(api: httpx.Client, amount: Any) -> httpx.Response:
    lines = [
        {"account": "alice", "side": "debit", "amount": amount},
        {"account": "bob", "side": "credit", "amount": amount},
    ]
    body = {"transactions": [{"lines": lines, "currency": "USD"}]}
    return api.post("/v1/transactions/batch", json=body)


def _post_hold(api: httpx.Client, amount: Any) -> httpx.Response:
    body = {"from": "alice", "to": "bob", "amount": 10, "currency": "USD", "pending": True}
    hold = api.post("/v1/transfers", json=body).json()
    return api.post(f"/v1/transactions/{hold['id']}/post", json={"amount": amount})


@pytest.mark.parametrize(
    "send",
    [_transfer, _transaction, _batch, _post_hold],
    ids=["transfer", "transaction-line", "batch-line", "post-hold"],
)
def test_an_amount_that_is_not_a_positive_int64_is_a_validation_error(
    funded: httpx.Client, send: Callable[[httpx.Client, Any], httpx.Response]
) -> None:
    """Floats, strings, bools, 0, negatives and >= 2^63 answer 400 VALIDATION_ERROR."""
    for amount in BAD_AMOUNTS:
        response = send(funded, amount)
        assert response.status_code == 400, f"{amount!r}: {response.text}"
        assert problem(response, 400, "VALIDATION_ERROR")["errors"], repr(amount)
    assert funded.get("/v1/accounts/bob").json()["balance"]["posted"] == 0


def test_the_largest_amount_is_accepted(api: httpx.Client) -> None:
    """2^63 - 1 is a valid amount."""
    create(api, "@world", overdraft_limit=None)
    create(api, "whale")
    body = {"from": "@world", "to": "whale", "amount": 2**63 - 1, "currency": "USD"}
    assert api.post("/v1/transfers", json=body).status_code == 201
    assert api.get("/v1/accounts/whale").json()["balance"]["posted"] == 2**63 - 1


# -- problem documents ---------------------------------------------------------------------


def test_an_unknown_route_or_method_is_a_problem(api: httpx.Client) -> None:
    """An unserved path answers 404 NOT_FOUND; an unserved method 405; both problem documents."""
    problem(api.get("/v1/nothing-here"), 404, "NOT_FOUND")
    problem(api.post("/v2/accounts", json={}), 404, "NOT_FOUND")
    problem(api.delete("/v1/accounts"), 405, "METHOD_NOT_ALLOWED")


def test_a_body_that_is_not_a_json_object_is_a_validation_error(api: httpx.Client) -> None:
    """Broken JSON, a JSON array or an empty body answer 400 VALIDATION_ERROR."""
    json_type = {"content-type": "application/json"}
    for content, headers in [(b"{not json", json_type), (b"[1, 2]", json_type), (b"", {})]:
        response = api.post("/v1/accounts", content=content, headers=headers)
        assert response.status_code == 400, content
        problem(response, 400, "VALIDATION_ERROR")


def test_a_body_that_is_not_utf8_is_a_validation_error(api: httpx.Client) -> None:
    """A JSON body with invalid UTF-8 answers 400 VALIDATION_ERROR, its status field 400 too."""
    response = api.post(
        "/v1/accounts",
        content=b'{"currency": "\xff"}',
        headers={"content-type": "application/json"},
    )
    problem(response, 400, "VALIDATION_ERROR")


def test_problem_status_always_equals_the_http_status(api: httpx.Client) -> None:
    """Every problem document's status field equals the response's status code."""
    responses = [
        api.get("/v1/accounts/ghost"),
        api.post("/v1/accounts", json={"currency": "ZZZ"}),
        api.post("/v1/accounts", json={}),
        api.patch("/v1/accounts"),
        api.post("/v1/accounts", content=b"{", headers={"content-type": "application/json"}),
    ]
    for response in responses:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == response.status_code, response.text


# -- request ids -----------------------------------------------------------------------------


def test_every_response_has_a_request_id(server: Server, key: str) -> None:
    """Successes, problems and service endpoints all carry X-Request-Id."""
    with server.client(key) as api, server.client() as anonymous:
        responses = [
            api.post("/v1/accounts", json={"id": "a", "currency": "USD"}),
            api.get("/v1/accounts/a"),
            api.get("/v1/accounts/ghost"),
            api.post("/v1/accounts", json={"currency": 1}),
            api.post("/v1/accounts", json={"currency": "ZZZ"}),
            api.post("/v1/accounts", json={"id": "a", "currency": "USD"}),
            api.delete("/v1/accounts"),
            api.get("/nowhere"),
            anonymous.get("/v1/accounts"),
            anonymous.get("/healthz"),
            anonymous.get("/metrics"),
            anonymous.get("/openapi.json"),
        ]
    for response in responses:
        assert response.headers.get("x-request-id"), response.request.url


def test_a_sane_request_id_is_echoed_and_an_insane_one_replaced(api: httpx.Client) -> None:
    """A sane incoming X-Request-Id comes back unchanged; one with spaces or too long does not."""
    ok = api.get("/healthz", headers={"X-Request-Id": "trace-123.abc"})
    assert ok.headers["x-request-id"] == "trace-123.abc"
    missing = api.get("/v1/accounts/ghost", headers={"X-Request-Id": "trace-456"})
    assert missing.headers["x-request-id"] == "trace-456"
    for sent in ["has spaces", "x" * 200]:
        response = api.get("/healthz", headers={"X-Request-Id": sent})
        assert response.headers["x-request-id"] not in {"", sent}


# -- body size ---------------------------------------------------------------------------------


def test_a_body_over_one_mib_is_too_large(api: httpx.Client) -> None:
    """A body over 1 MiB answers 413 PAYLOAD_TOO_LARGE, with a request id."""
    body = json.dumps({"currency": "USD", "metadata": {"k": "x" * ONE_MIB}}).encode()
    response = api.post("/v1/accounts", content=body, headers={"content-type": "application/json"})
    problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers.get("x-request-id")


def test_a_chunked_body_over_one_mib_is_too_large(api: httpx.Client) -> None:
    """A streamed body without Content-Length that passes 1 MiB also answers 413."""

    def chunks() -> Iterator[bytes]:
        yield b'{"currency": "USD", "metadata": {"k": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    response = api.post(
        "/v1/accounts", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_body_just_under_the_limit_is_read(api: httpx.Client) -> None:
    """A body under 1 MiB is parsed normally (here refused only for its content)."""
    body = json.dumps({"currency": "USD", "metadata": {"k": "x" * (ONE_MIB - 100)}}).encode()
    assert len(body) < ONE_MIB
    response = api.post("/v1/accounts", content=body, headers={"content-type": "application/json"})
    problem(response, 400, "VALIDATION_ERROR")


# -- no input reaches a 500 ----------------------------------------------------------------------


def _forged(kind: str, position: Any) -> str:
    raw = json.dumps([kind, position]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = {
    "accounts-dict": ("/v1/accounts", _forged("accounts", {"a": 1})),
    "transactions-text": ("/v1/transactions", _forged("transactions", "abc")),
    "statement-int": ("/v1/accounts/alice/statement", _forged("statement", 5)),
    "api-keys-dict": ("/v1/api-keys", _forged("api_keys", {"a": 1})),
}


def test_a_forged_cursor_is_a_validation_error(server: Server, key: str) -> None:
    """A cursor of the right list but a made-up position answers 400 with a request id, not 500."""
    with server.client(key) as api:
        create(api, "alice")
    for case, (path, cursor) in FORGED_CURSORS.items():
        with server.client(key) as api:  # a 500 closes the connection: one client per request
            response = api.get(path, params={"cursor": cursor})
        assert response.headers.get("x-request-id"), case
        assert response.status_code == 400, (case, response.text)
        problem(response, 400, "VALIDATION_ERROR")


def test_a_nul_character_in_an_id_is_not_a_server_error(server: Server, key: str) -> None:
    """An id or prefix holding U+0000 answers like any other unknown id, on every backend."""
    with server.client(key) as api:
        response = api.get("/v1/accounts/a%00b")
    problem(response, 404, "NOT_FOUND")
    with server.client(key) as api:
        response = api.get("/v1/transactions/tx%00")
    problem(response, 404, "NOT_FOUND")
    with server.client(key) as api:
        response = api.get("/v1/accounts", params={"prefix": "\x00"})
    assert response.status_code in {200, 400}, response.text


def test_a_nul_character_in_a_text_field_is_not_a_server_error(server: Server, key: str) -> None:
    """A description with U+0000 is stored or refused with 400, never a 500."""
    with server.client(key) as api:
        create(api, "@world", overdraft_limit=None)
        create(api, "alice")
    with server.client(key) as api:
        body = {
            "from": "@world",
            "to": "alice",
            "amount": 1,
            "currency": "USD",
            "description": "a\x00b",
        }
        response = api.post("/v1/transfers", json=body)
    assert response.status_code in {201, 400}, response.text
    with server.client(key) as api:
        response = api.post("/v1/accounts", json={"currency": "USD", "metadata": {"k\x00": "v"}})
    assert response.status_code in {201, 400}, response.text
