"""Tenant isolation of webhook endpoints and deliveries over real HTTP.

Tenant A owns an endpoint with a delivered event; tenant B has an endpoint of
its own. A's ids must answer B exactly as ids that never existed do, and
nothing B tries may change A's endpoint or delivery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server

NewTenant = Callable[[str], tuple[str, str]]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def twin(identifier: str) -> str:
    """An id of the same length and form that was never created."""
    last = "0" if identifier[-1] != "0" else "1"
    return identifier[:-1] + last


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    """A receiver on 127.0.0.1 that answers 200 to every POST."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}/hook"
    http.shutdown()
    http.server_close()


@dataclass
class Tenants:
    a: httpx.Client
    b: httpx.Client
    ids: dict[str, str]
    """A's ``endpoint`` and ``delivery`` ids, and B's ``b_endpoint``."""
    secret: str
    """A's endpoint's signing secret."""


def _delivered(api: httpx.Client, endpoint_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        data = ok(api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries"))["data"]
        if data and data[0]["status"] == "succeeded":
            return dict(data[0])
        time.sleep(0.05)
    raise AssertionError("the delivery did not succeed in time")


@pytest.fixture
def tenants(server: Server, new_tenant: NewTenant, hook_url: str) -> Iterator[Tenants]:
    """A and B each with an endpoint for every event; then A's event, delivered to A."""
    _, key_a = new_tenant("a")
    _, key_b = new_tenant("b")
    with server.client(key_a) as a, server.client(key_b) as b:
        endpoint = ok(a.post("/v1/webhook-endpoints", json={"url": hook_url, "events": ["*"]}), 201)
        b_endpoint = ok(
            b.post("/v1/webhook-endpoints", json={"url": hook_url, "events": ["*"]}), 201
        )
        ok(a.post("/v1/accounts", json={"id": "alice", "currency": "USD"}), 201)
        delivery = _delivered(a, endpoint["id"])
        ids = {
            "endpoint": endpoint["id"],
            "delivery": delivery["id"],
            "b_endpoint": b_endpoint["id"],
        }
        yield Tenants(a, b, ids, endpoint["secret"])


BY_ID = {
    "get-endpoint": ("GET", "/v1/webhook-endpoints/{endpoint}", None),
    "patch-endpoint": ("PATCH", "/v1/webhook-endpoints/{endpoint}", {"status": "disabled"}),
    "delete-endpoint": ("DELETE", "/v1/webhook-endpoints/{endpoint}", None),
    "rotate-secret": ("POST", "/v1/webhook-endpoints/{endpoint}/rotate-secret", {}),
    "list-deliveries": ("GET", "/v1/webhook-endpoints/{endpoint}/deliveries", None),
    "get-delivery": ("GET", "/v1/webhook-deliveries/{delivery}", None),
    "retry-delivery": ("POST", "/v1/webhook-deliveries/{delivery}/retry", None),
}


@pytest.mark.parametrize(("method", "path", "body"), list(BY_ID.values()), ids=list(BY_ID))
def test_another_tenants_ids_answer_like_missing_ones(
    tenants: Tenants, method: str, path: str, body: Any
) -> None:
    """B using A's endpoint or delivery id gets exactly what a made-up id gets: 404 NOT_FOUND."""
    made_up = {name: twin(value) for name, value in tenants.ids.items()}
    theirs = tenants.b.request(method, path.format_map(tenants.ids), json=body)
    missing = tenants.b.request(method, path.format_map(made_up), json=body)
    assert theirs.status_code == missing.status_code == 404, theirs.text
    assert theirs.json()["code"] == missing.json()["code"] == "NOT_FOUND"
    assert theirs.headers["content-type"] == missing.headers["content-type"]


@pytest.mark.parametrize(("method", "path", "body"), list(BY_ID.values()), ids=list(BY_ID))
def test_another_tenant_changes_nothing(
    tenants: Tenants, method: str, path: str, body: Any
) -> None:
    """After B's attempt on A's ids, A's endpoint and delivery are exactly as before."""
    endpoint_path = f"/v1/webhook-endpoints/{tenants.ids['endpoint']}"
    delivery_path = f"/v1/webhook-deliveries/{tenants.ids['delivery']}"
    before = (ok(tenants.a.get(endpoint_path)), ok(tenants.a.get(delivery_path)))
    tenants.b.request(method, path.format_map(tenants.ids), json=body)
    assert (ok(tenants.a.get(endpoint_path)), ok(tenants.a.get(delivery_path))) == before


def test_lists_show_only_the_callers_endpoints(tenants: Tenants) -> None:
    """GET /v1/webhook-endpoints lists each tenant's own endpoints only."""
    listed_a = [e["id"] for e in ok(tenants.a.get("/v1/webhook-endpoints"))["data"]]
    listed_b = [e["id"] for e in ok(tenants.b.get("/v1/webhook-endpoints"))["data"]]
    assert listed_a == [tenants.ids["endpoint"]]
    assert listed_b == [tenants.ids["b_endpoint"]]


def test_another_tenants_deliveries_are_not_found(tenants: Tenants) -> None:
    """A asking for the deliveries of B's endpoint gets 404, not an empty page."""
    response = tenants.a.get(f"/v1/webhook-endpoints/{tenants.ids['b_endpoint']}/deliveries")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_events_of_one_tenant_are_not_delivered_to_another(tenants: Tenants) -> None:
    """B's endpoint (subscribed to "*") got no delivery of A's event."""
    page = ok(tenants.b.get(f"/v1/webhook-endpoints/{tenants.ids['b_endpoint']}/deliveries"))
    assert page["data"] == []
