"""GET /v1/events over real HTTP: commit order, cursors, resuming, types, isolation, scope."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server

NewTenant = Callable[[str], tuple[str, str]]


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _activity(api: httpx.Client) -> None:
    """Two accounts, two transfers, a hold voided, an update: seven events."""
    _ok(api.post("/v1/accounts", json={"id": "@world", "currency": "USD", "overdraft_limit": None}))
    _ok(api.post("/v1/accounts", json={"id": "alice", "currency": "USD"}))
    for _ in range(2):
        body = {"from": "@world", "to": "alice", "amount": 100, "currency": "USD"}
        _ok(api.post("/v1/transfers", json=body))
    body = {"from": "alice", "to": "@world", "amount": 5, "currency": "USD", "pending": True}
    hold = _ok(api.post("/v1/transfers", json=body))
    _ok(api.post(f"/v1/transactions/{hold['id']}/void", json={}))
    _ok(api.patch("/v1/accounts/alice", json={"metadata": {"tier": "gold"}}))


TYPES = [
    "account.created",
    "account.created",
    "transaction.posted",
    "transaction.posted",
    "transaction.pending",
    "transaction.voided",
    "account.updated",
]


def _drain(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"after": cursor} if cursor else {})}
        page = _ok(api.get("/v1/events", params=query))
        seen.extend(page["data"])
        if page["next_cursor"] is None:
            return seen
        cursor = page["next_cursor"]


def test_events_come_in_commit_order(api: httpx.Client) -> None:
    """The feed lists every change's event in the order the changes committed."""
    _activity(api)
    body = _ok(api.get("/v1/events"))
    assert [e["type"] for e in body["data"]] == TYPES
    assert body["next_cursor"] is None
    assert all(set(e) == {"id", "type", "created_at", "data"} for e in body["data"])
    assert body["data"][1]["data"]["id"] == "alice"


def test_paging_with_the_cursor_sees_each_event_once(api: httpx.Client) -> None:
    """limit=2 pages chained by next_cursor give the whole feed, without repeats."""
    _activity(api)
    seen = _drain(api, limit=2)
    assert [e["type"] for e in seen] == TYPES
    assert len({e["id"] for e in seen}) == len(TYPES)


def test_a_consumer_resumes_after_the_last_event_it_handled(api: httpx.Client) -> None:
    """after=<event id> returns only the events after it, including ones committed since."""
    _activity(api)
    handled = _ok(api.get("/v1/events", params={"limit": 3}))["data"]
    rest = _ok(api.get("/v1/events", params={"after": handled[-1]["id"]}))["data"]
    assert [e["type"] for e in handled + rest] == TYPES
    body = {"from": "@world", "to": "alice", "amount": 1, "currency": "USD"}
    tx = _ok(api.post("/v1/transfers", json=body))
    newer = _ok(api.get("/v1/events", params={"after": rest[-1]["id"]}))["data"]
    assert [(e["type"], e["data"]["id"]) for e in newer] == [("transaction.posted", tx["id"])]


def test_cursor_is_accepted_as_after(api: httpx.Client) -> None:
    """`cursor=` works like `after=`, as on every list; giving both is a VALIDATION_ERROR."""
    _activity(api)
    first = _ok(api.get("/v1/events", params={"limit": 4}))
    by_cursor = _ok(api.get("/v1/events", params={"cursor": first["next_cursor"]}))
    by_after = _ok(api.get("/v1/events", params={"after": first["next_cursor"]}))
    assert by_cursor == by_after
    assert len(first["data"] + by_after["data"]) == len(TYPES)
    both = api.get("/v1/events", params={"cursor": first["next_cursor"], "after": "x"})
    assert both.status_code == 400


def test_types_filter(api: httpx.Client) -> None:
    """types=a,b keeps those types in commit order, across pages."""
    _activity(api)
    seen = _drain(api, types="transaction.voided,account.created", limit=1)
    assert [e["type"] for e in seen] == ["account.created", "account.created", "transaction.voided"]


def test_events_need_read_scope(server: Server, api: httpx.Client) -> None:
    """A ledger:read key reads the feed; a key without it gets 403 FORBIDDEN."""
    _activity(api)
    keys = {}
    for scope in ("ledger:read", "payments:write"):
        created = _ok(api.post("/v1/api-keys", json={"name": scope, "scopes": [scope]}))
        keys[scope] = created["key"]
    with server.client(keys["ledger:read"]) as reader:
        assert len(_ok(reader.get("/v1/events"))["data"]) == len(TYPES)
    with server.client(keys["payments:write"]) as other:
        response = other.get("/v1/events")
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    body = response.json()
    body.pop("request_id", None)
    return response.status_code, body


def test_another_tenants_events_never_show(
    server: Server, api: httpx.Client, new_tenant: NewTenant
) -> None:
    """Tenant B sees none of A's events, and A's event id answers B like a missing id."""
    _activity(api)
    a_ids = {e["id"] for e in _ok(api.get("/v1/events"))["data"]}
    _, key_b = new_tenant("beta")
    with server.client(key_b) as b:
        _ok(b.post("/v1/accounts", json={"id": "bob", "currency": "USD"}))
        b_events = _ok(b.get("/v1/events"))["data"]
        foreign = b.get("/v1/events", params={"after": sorted(a_ids)[0]})
        missing = b.get("/v1/events", params={"after": "evt_00000000000000000000000000"})
    assert [e["type"] for e in b_events] == ["account.created"]
    assert not a_ids & {e["id"] for e in b_events}
    assert _comparable(foreign) == _comparable(missing)
    assert foreign.status_code == 400
    assert foreign.json()["code"] == "VALIDATION_ERROR"


def _forged(kind: str, position: Any) -> str:
    raw = json.dumps([kind, position]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_QUERIES = {
    "garbage-after": {"after": "garbage"},
    "forged-dict": {"after": _forged("events", {"a": 1})},
    "forged-huge": {"after": _forged("events", 2**70)},
    "forged-negative": {"cursor": _forged("events", -1)},
    "other-list": {"after": _forged("transactions", 1)},
    "nul-event-id": {"after": "evt_\x00"},
    "bad-type": {"types": "a b"},
    "nul-type": {"types": "account.created\x00"},
    "zero-limit": {"limit": 0},
    "big-limit": {"limit": 1001},
}


@pytest.mark.parametrize("params", BAD_QUERIES.values(), ids=list(BAD_QUERIES))
def test_bad_queries_are_validation_errors(api: httpx.Client, params: dict[str, Any]) -> None:
    """Malformed positions, types and limits answer 400 VALIDATION_ERROR."""
    response = api.get("/v1/events", params=params)
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
    assert response.headers["content-type"].startswith("application/problem+json")
