"""Webhook endpoints and deliveries over real HTTP, with real receivers on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.api.conftest import Server
from tests.api.problems import problem

ENDPOINT_FIELDS = {
    "id",
    "url",
    "events",
    "description",
    "status",
    "disabled_reason",
    "created_at",
    "updated_at",
}
DELIVERY_FIELDS = {
    "id",
    "endpoint_id",
    "event_id",
    "event_type",
    "status",
    "attempt_count",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
    "created_at",
    "updated_at",
    "attempts",
}
HOOK = "http://127.0.0.1:9/hook"  # allowed by the test server; nothing listens there
MISSING_ENDPOINT = "whe_missing0000000000000000"
MISSING_DELIVERY = "whd_missing0000000000000000"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create_endpoint(api: httpx.Client, url: str = HOOK, **fields: Any) -> Any:
    body = {"url": url, "events": ["*"], **fields}
    return ok(api.post("/v1/webhook-endpoints", json=body), 201)


def make_event(api: httpx.Client, account_id: str = "a") -> None:
    """An ``account.created`` event."""
    ok(api.post("/v1/accounts", json={"id": account_id, "currency": "USD"}), 201)


def wait_for_delivery(
    api: httpx.Client, endpoint_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The endpoint's newest delivery, once ``done`` holds for it (15 s at most)."""
    deadline = time.monotonic() + 15
    last: Any = None
    while time.monotonic() < deadline:
        page = ok(api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries"))
        last = page["data"]
        if last and done(last[0]):
            return dict(last[0])
        time.sleep(0.05)
    raise AssertionError(f"no delivery reached the expected state: {last}")


# -- receivers -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records POSTs and answers ``status``."""

    status: int
    url: str = ""
    requests: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.receiver.requests.append(
            Received({k.lower(): v for k, v in self.headers.items()}, body)
        )
        self.send_response(self.receiver.status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Callable[[int], Receiver]]:
    """Start receivers answering a given status; all are stopped at the end."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> Receiver:
        made = Receiver(status)
        handler = type("Handler", (_Handler,), {"receiver": made})
        http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        servers.append(http)
        made.url = f"http://127.0.0.1:{http.server_address[1]}/hook"
        return made

    yield start
    for http in servers:
        http.shutdown()
        http.server_close()


# -- creating ------------------------------------------------------------------------------


def test_creating_an_endpoint_shows_its_secret(api: httpx.Client) -> None:
    """POST /v1/webhook-endpoints answers 201 with the endpoint and a whsec_ secret."""
    response = api.post(
        "/v1/webhook-endpoints",
        json={"url": HOOK, "events": ["transaction.posted"], "description": "books"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ENDPOINT_FIELDS | {"secret"}
    assert body["id"].startswith("whe_")
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["events"], body["description"]) == (
        HOOK,
        ["transaction.posted"],
        "books",
    )
    assert (body["status"], body["disabled_reason"]) == ("enabled", None)
    assert "idempotent-replayed" not in response.headers


def test_the_secret_is_never_shown_again(api: httpx.Client) -> None:
    """GET, list and PATCH of an endpoint never carry its secret."""
    created = create_endpoint(api)
    endpoint_id = created["id"]
    responses = [
        api.get(f"/v1/webhook-endpoints/{endpoint_id}"),
        api.get("/v1/webhook-endpoints"),
        api.patch(f"/v1/webhook-endpoints/{endpoint_id}", json={"description": "d"}),
    ]
    for response in responses:
        assert response.status_code == 200
        assert created["secret"] not in response.text
        assert "secret" not in response.text


def test_an_idempotent_replay_answers_the_same_endpoint_without_secret(api: httpx.Client) -> None:
    """The same Idempotency-Key and body answer the same id, secret null, Idempotent-Replayed."""
    body = {"url": HOOK, "events": ["*"]}
    headers = {"Idempotency-Key": "hook-1"}
    first = api.post("/v1/webhook-endpoints", json=body, headers=headers)
    again = api.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["secret"] is None
    assert again.headers["idempotent-replayed"] == "true"
    assert len(ok(api.get("/v1/webhook-endpoints"))["data"]) == 1


def test_reusing_an_idempotency_key_with_another_body_is_refused(api: httpx.Client) -> None:
    """The same Idempotency-Key with a different body answers 422 IDEMPOTENCY_KEY_REUSED."""
    headers = {"Idempotency-Key": "hook-1"}
    api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["*"]}, headers=headers)
    response = api.post(
        "/v1/webhook-endpoints", json={"url": HOOK, "events": ["account.created"]}, headers=headers
    )
    problem(response, 422, "IDEMPOTENCY_KEY_REUSED")


@pytest.mark.parametrize(
    "events",
    [[], ["not a type"], ["*", "account.created"], "*", [5], None],
    ids=["empty", "bad-type", "star-mixed", "not-a-list", "not-a-string", "null"],
)
def test_bad_event_types_are_refused(api: httpx.Client, events: Any) -> None:
    """events must be ["*"] or a non-empty list of event type names: else 400."""
    response = api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": events})
    problem(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://user:pw@127.0.0.1:9/hook",
        "not a url",
        "",
    ],
    ids=["ftp", "private", "metadata", "credentials", "garbage", "empty"],
)
def test_bad_urls_are_refused(api: httpx.Client, url: str) -> None:
    """A non-http(s), malformed or non-public URL answers 400 VALIDATION_ERROR."""
    response = api.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]})
    problem(response, 400, "VALIDATION_ERROR")
    assert ok(api.get("/v1/webhook-endpoints"))["data"] == []


def test_a_loopback_url_allowed_by_the_operator_is_accepted(api: httpx.Client) -> None:
    """http://127.0.0.1 is accepted when STRONGROOM_WEBHOOK_ALLOWED_HOSTS allows it."""
    response = api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["*"]})
    assert response.status_code == 201, response.text


def test_unknown_fields_are_refused(api: httpx.Client) -> None:
    """A field outside the allow-list (e.g. secret or status) answers 400."""
    for extra in ({"secret": "whsec_mine"}, {"status": "disabled"}, {"tenant": "tn_x"}):
        body = {"url": HOOK, "events": ["*"], **extra}
        problem(api.post("/v1/webhook-endpoints", json=body), 400, "VALIDATION_ERROR")


# -- reading, changing, deleting -----------------------------------------------------------


def test_an_endpoint_reads_back_as_created(api: httpx.Client) -> None:
    """GET /v1/webhook-endpoints/{id} answers the endpoint as created, minus its secret."""
    created = create_endpoint(api, description="x")
    body = ok(api.get(f"/v1/webhook-endpoints/{created['id']}"))
    assert set(body) == ENDPOINT_FIELDS
    assert body == {k: v for k, v in created.items() if k != "secret"}


@pytest.mark.parametrize("status", ["disabled", "enabled"], ids=["disable", "enable"])
def test_patch_sets_the_status(api: httpx.Client, status: str) -> None:
    """PATCH status disables an endpoint (with a reason) or enables it (reason cleared)."""
    endpoint_id = create_endpoint(api)["id"]
    if status == "enabled":
        ok(api.patch(f"/v1/webhook-endpoints/{endpoint_id}", json={"status": "disabled"}))
    body = ok(api.patch(f"/v1/webhook-endpoints/{endpoint_id}", json={"status": status}))
    assert body["status"] == status
    assert (body["disabled_reason"] is None) == (status == "enabled")
    assert ok(api.get(f"/v1/webhook-endpoints/{endpoint_id}"))["status"] == status


def test_patch_changes_the_event_types(api: httpx.Client) -> None:
    """PATCH events replaces the subscription; other fields stay."""
    created = create_endpoint(api, description="keep")
    body = ok(
        api.patch(
            f"/v1/webhook-endpoints/{created['id']}",
            json={"events": ["transaction.voided", "account.created"]},
        )
    )
    assert body["events"] == ["account.created", "transaction.voided"]
    assert (body["url"], body["description"], body["status"]) == (HOOK, "keep", "enabled")


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"url": "http://10.0.0.1/"}, {"status": "paused"}, {"secret": "x"}],
    ids=["no-events", "private-url", "bad-status", "unknown-field"],
)
def test_a_bad_patch_is_refused(api: httpx.Client, body: dict[str, Any]) -> None:
    """PATCH with an invalid value or an unknown field answers 400 and changes nothing."""
    created = create_endpoint(api)
    problem(api.patch(f"/v1/webhook-endpoints/{created['id']}", json=body), 400, "VALIDATION_ERROR")
    assert (
        ok(api.get(f"/v1/webhook-endpoints/{created['id']}"))["updated_at"] == created["updated_at"]
    )


def test_delete_answers_the_endpoint_and_then_it_is_gone(api: httpx.Client) -> None:
    """DELETE answers the endpoint as it was; GET then answers 404 and the list omits it."""
    created = create_endpoint(api)
    body = ok(api.delete(f"/v1/webhook-endpoints/{created['id']}"))
    assert (body["id"], body["status"]) == (created["id"], "enabled")
    problem(api.get(f"/v1/webhook-endpoints/{created['id']}"), 404, "NOT_FOUND")
    assert ok(api.get("/v1/webhook-endpoints"))["data"] == []


@pytest.mark.parametrize(
    "body",
    [None, {}, {"overlap_seconds": 0}, {"overlap_seconds": 604800}],
    ids=["no-body", "empty", "no-overlap", "week-overlap"],
)
def test_rotating_gives_a_new_secret(api: httpx.Client, body: dict[str, Any] | None) -> None:
    """POST rotate-secret answers the endpoint with a new whsec_ secret."""
    created = create_endpoint(api)
    rotated = ok(api.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret", json=body))
    assert set(rotated) == ENDPOINT_FIELDS | {"secret"}
    assert rotated["id"] == created["id"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]


@pytest.mark.parametrize(
    "body",
    [{"overlap_seconds": -1}, {"overlap_seconds": 604801}, {"overlap_seconds": 1.5}, {"x": 1}],
    ids=["negative", "over-a-week", "float", "unknown-field"],
)
def test_a_bad_overlap_is_refused(api: httpx.Client, body: dict[str, Any]) -> None:
    """overlap_seconds outside 0..604800, not an integer, or an unknown field answers 400."""
    created = create_endpoint(api)
    response = api.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret", json=body)
    problem(response, 400, "VALIDATION_ERROR")


def test_listing_pages_with_a_cursor(api: httpx.Client) -> None:
    """limit=1 and next_cursor walk every endpoint once."""
    ids = {create_endpoint(api)["id"] for _ in range(3)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = ok(api.get("/v1/webhook-endpoints", params=params))
        assert set(page) == {"data", "next_cursor"}
        assert len(page["data"]) <= 1
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3
    assert set(seen) == ids


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"cursor": "garbage"}],
    ids=["limit-0", "limit-1001", "bad-cursor"],
)
def test_bad_list_parameters_are_refused(api: httpx.Client, params: dict[str, Any]) -> None:
    """A limit outside 1..1000 or a cursor that is not ours answers 400."""
    problem(api.get("/v1/webhook-endpoints", params=params), 400, "VALIDATION_ERROR")


def test_a_fresh_endpoint_has_no_deliveries(api: httpx.Client) -> None:
    """GET .../deliveries of a new endpoint answers an empty page."""
    endpoint_id = create_endpoint(api)["id"]
    page = ok(api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries"))
    assert page == {"data": [], "next_cursor": None}


def test_an_unknown_delivery_status_is_refused(api: httpx.Client) -> None:
    """GET .../deliveries?status= other than pending, succeeded or dead answers 400."""
    endpoint_id = create_endpoint(api)["id"]
    response = api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params={"status": "x"})
    problem(response, 400, "VALIDATION_ERROR")


# -- access --------------------------------------------------------------------------------

ROUTES = {
    "create": ("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["*"]}),
    "list": ("GET", "/v1/webhook-endpoints", None),
    "get": ("GET", "/v1/webhook-endpoints/{endpoint}", None),
    "patch": ("PATCH", "/v1/webhook-endpoints/{endpoint}", {"description": "x"}),
    "delete": ("DELETE", "/v1/webhook-endpoints/{endpoint}", None),
    "rotate": ("POST", "/v1/webhook-endpoints/{endpoint}/rotate-secret", {}),
    "deliveries": ("GET", "/v1/webhook-endpoints/{endpoint}/deliveries", None),
    "get-delivery": ("GET", "/v1/webhook-deliveries/{delivery}", None),
    "retry": ("POST", "/v1/webhook-deliveries/{delivery}/retry", None),
}
BY_ID = {name: route for name, route in ROUTES.items() if "{" in route[1]}


@pytest.mark.parametrize(("method", "path", "body"), list(ROUTES.values()), ids=list(ROUTES))
def test_every_route_needs_the_admin_scope(
    server: Server, api: httpx.Client, method: str, path: str, body: Any
) -> None:
    """A key with ledger:write only answers 403 FORBIDDEN, and nothing changes."""
    endpoint_id = create_endpoint(api)["id"]
    key = ok(api.post("/v1/api-keys", json={"name": "w", "scopes": ["ledger:write"]}), 201)
    ids = {"endpoint": endpoint_id, "delivery": MISSING_DELIVERY}
    with server.client(key["key"]) as writer:
        problem(writer.request(method, path.format_map(ids), json=body), 403, "FORBIDDEN")
    assert [e["id"] for e in ok(api.get("/v1/webhook-endpoints"))["data"]] == [endpoint_id]


@pytest.mark.parametrize(("method", "path", "body"), list(ROUTES.values()), ids=list(ROUTES))
def test_every_route_needs_a_key(server: Server, method: str, path: str, body: Any) -> None:
    """No credential answers 401 UNAUTHENTICATED."""
    ids = {"endpoint": MISSING_ENDPOINT, "delivery": MISSING_DELIVERY}
    with server.client() as anonymous:
        response = anonymous.request(method, path.format_map(ids), json=body)
    problem(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("method", "path", "body"), list(BY_ID.values()), ids=list(BY_ID))
@pytest.mark.parametrize(
    "missing",
    [MISSING_ENDPOINT, "x" * 200, "%00"],
    ids=["made-up", "too-long", "nul"],
)
def test_unknown_ids_are_not_found(
    api: httpx.Client, method: str, path: str, body: Any, missing: str
) -> None:
    """Every id-taking route answers 404 NOT_FOUND for an id that does not exist."""
    ids = {"endpoint": missing, "delivery": missing.replace("whe_", "whd_")}
    problem(api.request(method, path.format_map(ids), json=body), 404, "NOT_FOUND")


# -- deliveries ----------------------------------------------------------------------------


def test_an_event_is_delivered_signed(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """A new event reaches the receiver with Standard Webhooks headers and a valid signature."""
    hook = receiver(200)
    created = create_endpoint(api, hook.url)
    make_event(api)
    delivery = wait_for_delivery(api, created["id"], lambda d: d["status"] == "succeeded")
    event = ok(api.get("/v1/events"))["data"][-1]
    assert set(delivery) == DELIVERY_FIELDS
    assert (delivery["endpoint_id"], delivery["event_id"]) == (created["id"], event["id"])
    assert delivery["event_type"] == "account.created"
    assert delivery["attempt_count"] == 1
    assert delivery["attempts"][0]["status_code"] == 200
    assert delivery["delivered_at"] is not None
    assert len(hook.requests) == 1
    received = hook.requests[0]
    assert received.headers["webhook-id"] == event["id"]
    assert received.headers["webhook-timestamp"].isdigit()
    assert received.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(created["secret"]).verify(received.body, received.headers)
    assert payload == event


def test_a_delivery_reads_back_by_id(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """GET /v1/webhook-deliveries/{id} answers the delivery as listed."""
    endpoint_id = create_endpoint(api, receiver(200).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["status"] == "succeeded")
    assert ok(api.get(f"/v1/webhook-deliveries/{delivery['id']}")) == delivery


def test_only_subscribed_event_types_are_delivered(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """An endpoint for transaction.posted gets no delivery of account.created."""
    quiet = create_endpoint(api, receiver(200).url, events=["transaction.posted"])["id"]
    everything = create_endpoint(api, receiver(200).url)["id"]
    make_event(api)
    wait_for_delivery(api, everything, lambda d: d["status"] == "succeeded")
    assert ok(api.get(f"/v1/webhook-endpoints/{quiet}/deliveries"))["data"] == []


def test_a_failing_receiver_leaves_the_delivery_pending(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """A 500 answer is recorded and the delivery stays pending with a next attempt."""
    endpoint_id = create_endpoint(api, receiver(500).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["attempt_count"] >= 1)
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is not None
    assert delivery["last_status_code"] == 500
    assert delivery["attempts"][0]["status_code"] == 500
    assert delivery["delivered_at"] is None


def test_retrying_a_pending_delivery_is_refused(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """POST retry of a delivery still pending answers 409 INVALID_STATE."""
    endpoint_id = create_endpoint(api, receiver(500).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["attempt_count"] >= 1)
    response = api.post(f"/v1/webhook-deliveries/{delivery['id']}/retry")
    problem(response, 409, "INVALID_STATE")


def test_a_410_disables_the_endpoint_and_kills_the_delivery(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """A 410 Gone answer disables the endpoint with a reason and dead-letters the delivery."""
    endpoint_id = create_endpoint(api, receiver(410).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["status"] == "dead")
    assert delivery["last_status_code"] == 410
    endpoint = ok(api.get(f"/v1/webhook-endpoints/{endpoint_id}"))
    assert endpoint["status"] == "disabled"
    assert endpoint["disabled_reason"]


def test_retrying_for_a_disabled_endpoint_is_refused(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """POST retry of a dead delivery whose endpoint is disabled answers 409 INVALID_STATE."""
    endpoint_id = create_endpoint(api, receiver(410).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["status"] == "dead")
    response = api.post(f"/v1/webhook-deliveries/{delivery['id']}/retry")
    problem(response, 409, "INVALID_STATE")


def test_retrying_after_reenabling_reschedules_the_delivery(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """Once the endpoint is enabled again, retry answers 200 with the delivery pending."""
    hook = receiver(410)
    endpoint_id = create_endpoint(api, hook.url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["status"] == "dead")
    hook.status = 200
    ok(api.patch(f"/v1/webhook-endpoints/{endpoint_id}", json={"status": "enabled"}))
    retried = ok(api.post(f"/v1/webhook-deliveries/{delivery['id']}/retry"))
    assert set(retried) == DELIVERY_FIELDS
    assert (retried["id"], retried["status"]) == (delivery["id"], "pending")
    assert retried["next_attempt_at"] is not None


def test_deliveries_filter_by_status(
    api: httpx.Client, receiver: Callable[[int], Receiver]
) -> None:
    """?status= keeps only deliveries in that status."""
    endpoint_id = create_endpoint(api, receiver(200).url)["id"]
    make_event(api)
    delivery = wait_for_delivery(api, endpoint_id, lambda d: d["status"] == "succeeded")
    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    assert ok(api.get(path, params={"status": "succeeded"}))["data"] == [delivery]
    assert ok(api.get(path, params={"status": "pending"}))["data"] == []
    assert ok(api.get(path, params={"status": "dead"}))["data"] == []
