"""The event feed and webhook management through the client, against a real server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from strongroom import InvalidState, NotFound, ValidationError
from strongroom.client import (
    AsyncClient,
    Client,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.api.conftest import Server
from tests.client.conftest import LoseFirstWrite

HOOK = "http://127.0.0.1:9/hook"  # allowed by the test server; nothing listens there
MISSING_DELIVERY = "whd_missing0000000000000000"


def _wait_for_delivery(
    client: Client, endpoint_id: str, done: Callable[[WebhookDelivery], bool]
) -> WebhookDelivery:
    """The endpoint's newest delivery once ``done`` holds for it (15 s at most)."""
    deadline = time.monotonic() + 15
    seen: list[WebhookDelivery] = []
    while time.monotonic() < deadline:
        seen = client.list_webhook_deliveries(endpoint_id).data
        if seen and done(seen[0]):
            return seen[0]
        time.sleep(0.1)
    raise AssertionError(f"no delivery reached the expected state: {seen}")


@pytest.fixture
def receiver() -> Iterator[Callable[[int], str]]:
    """Start HTTP receivers on 127.0.0.1 answering a given status; returns their URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Receiver(ThreadingHTTPServer):
            request_queue_size = 128
            daemon_threads = True

        http = Receiver(("127.0.0.1", 0), Handler)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        servers.append(http)
        return f"http://127.0.0.1:{http.server_address[1]}/hook"

    yield start
    for http in servers:
        http.shutdown()
        http.server_close()


# -- the event feed --------------------------------------------------------------------------


def test_list_events_shows_an_account_created_through_the_client(client: Client) -> None:
    """list_events returns the account.created event of a new account, with an aware time."""
    client.create_account("user:1", currency="USD")
    page = client.list_events()
    created = [e for e in page.data if e.type == "account.created"]
    assert len(created) == 1
    assert isinstance(created[0], Event)
    assert created[0].id.startswith("evt_")
    assert created[0].data["id"] == "user:1"
    assert created[0].created_at.tzinfo is not None


def test_list_events_resumes_after_a_cursor_or_an_event_id(client: Client) -> None:
    """Paging with after= (next_cursor or the last event's id) resumes without repeats."""
    for name in ("a", "b", "c"):
        client.create_account(name, currency="USD")
    everything = [e.id for e in client.list_events().data]
    first = client.list_events(limit=1)
    assert first.next_cursor is not None
    by_cursor = client.list_events(after=first.next_cursor)
    by_id = client.list_events(after=first.data[0].id)
    assert [e.id for e in first.data + by_cursor.data] == everything
    assert [e.id for e in by_id.data] == everything[1:]
    assert by_cursor.next_cursor is None


def test_list_events_keeps_only_the_given_types(books: Client) -> None:
    """types= (a list or one name) keeps only events of those types."""
    books.transfer("@world", "user:1", 100, "USD")
    posted = books.list_events(types=["transaction.posted"]).data
    assert [e.type for e in posted] == ["transaction.posted"]
    assert {e.type for e in books.list_events(types="account.created").data} == {"account.created"}


def test_list_events_after_an_unknown_id_is_a_validation_error(client: Client) -> None:
    """An unknown event id in after= raises ValidationError."""
    with pytest.raises(ValidationError):
        client.list_events(after="evt_unknown0000000000000000")


# -- endpoints -----------------------------------------------------------------------------


def test_create_webhook_endpoint_returns_its_secret(client: Client) -> None:
    """create_webhook_endpoint returns the endpoint with a whsec_ secret."""
    created = client.create_webhook_endpoint(HOOK, ["transaction.posted"], description="books")
    assert isinstance(created, WebhookEndpoint)
    assert created.id.startswith("whe_")
    assert created.secret is not None
    assert created.secret.startswith("whsec_")
    assert (created.url, created.events, created.description) == (
        HOOK,
        ("transaction.posted",),
        "books",
    )
    assert (created.status, created.disabled_reason, created.replayed) == ("enabled", None, False)
    assert created.created_at.tzinfo is not None


def test_get_and_list_never_carry_the_secret(client: Client) -> None:
    """get_webhook_endpoint and list_webhook_endpoints return the endpoint with secret None."""
    created = client.create_webhook_endpoint(HOOK)
    fetched = client.get_webhook_endpoint(created.id)
    listed = client.list_webhook_endpoints().data
    assert fetched.secret is None
    assert [e.id for e in listed] == [created.id]
    assert listed[0].secret is None
    assert fetched.events == ("*",)


def test_list_webhook_endpoints_pages(client: Client) -> None:
    """list_webhook_endpoints pages with limit and cursor."""
    client.create_webhook_endpoint(HOOK)
    client.create_webhook_endpoint(HOOK)
    first = client.list_webhook_endpoints(limit=1)
    assert first.next_cursor is not None
    second = client.list_webhook_endpoints(limit=1, cursor=first.next_cursor)
    assert len({e.id for e in first.data + second.data}) == 2


def test_creating_again_with_the_same_key_replays_without_secret(client: Client) -> None:
    """The same idempotency_key returns the same endpoint, replayed, with secret None."""
    first = client.create_webhook_endpoint(HOOK, idempotency_key="hook-1")
    again = client.create_webhook_endpoint(HOOK, idempotency_key="hook-1")
    assert again.id == first.id
    assert (again.secret, again.replayed) == (None, True)
    assert len(client.list_webhook_endpoints().data) == 1


def test_a_lost_creation_is_retried_once_with_its_key(make_client: Callable[..., Client]) -> None:
    """A creation whose answer was lost is resent with the same key: one endpoint."""
    transport = LoseFirstWrite()
    created = make_client(transport=transport).create_webhook_endpoint(HOOK)
    assert (created.secret, created.replayed) == (None, True)
    assert len({r.headers["Idempotency-Key"] for r in transport.sent}) == 1
    assert [e.id for e in make_client().list_webhook_endpoints().data] == [created.id]


def test_update_webhook_endpoint_disables_and_enables(client: Client) -> None:
    """update_webhook_endpoint(status=...) disables the endpoint and enables it again."""
    created = client.create_webhook_endpoint(HOOK)
    disabled = client.update_webhook_endpoint(created.id, status="disabled")
    assert (disabled.status, disabled.disabled_reason) == ("disabled", "disabled by a user")
    enabled = client.update_webhook_endpoint(created.id, status="enabled")
    assert (enabled.status, enabled.disabled_reason) == ("enabled", None)
    assert enabled.secret is None


def test_update_webhook_endpoint_leaves_fields_not_given(client: Client) -> None:
    """update_webhook_endpoint changes the given fields and keeps the others."""
    created = client.create_webhook_endpoint(HOOK, ["account.created"], description="old")
    updated = client.update_webhook_endpoint(created.id, events=["transaction.posted"])
    assert (updated.url, updated.events, updated.description) == (
        HOOK,
        ("transaction.posted",),
        "old",
    )


def test_rotate_webhook_secret_returns_a_new_secret(client: Client) -> None:
    """rotate_webhook_secret returns the endpoint with a new whsec_ secret."""
    created = client.create_webhook_endpoint(HOOK)
    rotated = client.rotate_webhook_secret(created.id, overlap_seconds=60)
    assert rotated.id == created.id
    assert rotated.secret is not None
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != created.secret


def test_a_lost_rotation_is_not_resent(client: Client, make_client: Callable[..., Client]) -> None:
    """rotate_webhook_secret is not resent after a lost answer: the timeout propagates."""
    created = client.create_webhook_endpoint(HOOK)
    transport = LoseFirstWrite()
    with pytest.raises(httpx.ReadTimeout):
        make_client(transport=transport).rotate_webhook_secret(created.id)
    assert len(transport.sent) == 1


def test_delete_webhook_endpoint_then_get_is_not_found(client: Client) -> None:
    """delete_webhook_endpoint returns the endpoint; getting it afterwards raises NotFound."""
    created = client.create_webhook_endpoint(HOOK)
    assert client.delete_webhook_endpoint(created.id).id == created.id
    with pytest.raises(NotFound):
        client.get_webhook_endpoint(created.id)


def test_a_url_that_is_not_http_is_a_validation_error(client: Client) -> None:
    """create_webhook_endpoint with an ftp:// URL raises ValidationError."""
    with pytest.raises(ValidationError):
        client.create_webhook_endpoint("ftp://127.0.0.1/hook")


# -- deliveries ----------------------------------------------------------------------------


def test_a_delivery_succeeds_and_can_be_sent_again(
    client: Client, receiver: Callable[[int], str]
) -> None:
    """An event reaches a 200 receiver; retry_webhook_delivery schedules it again (pending)."""
    endpoint = client.create_webhook_endpoint(receiver(200))
    client.create_account("user:1", currency="USD")
    delivery = _wait_for_delivery(client, endpoint.id, lambda d: d.status == "succeeded")
    assert (delivery.endpoint_id, delivery.event_type) == (endpoint.id, "account.created")
    assert isinstance(delivery.attempts[0], WebhookAttempt)
    assert delivery.attempts[0].status_code == 200
    assert delivery.delivered_at is not None
    assert delivery.delivered_at.tzinfo is not None
    assert client.get_webhook_delivery(delivery.id).id == delivery.id
    retried = client.retry_webhook_delivery(delivery.id)
    assert (retried.id, retried.status) == (delivery.id, "pending")


def test_retrying_a_pending_delivery_is_invalid_state(
    client: Client, receiver: Callable[[int], str]
) -> None:
    """retry_webhook_delivery of a delivery still pending raises InvalidState."""
    endpoint = client.create_webhook_endpoint(receiver(500))
    client.create_account("user:1", currency="USD")
    delivery = _wait_for_delivery(client, endpoint.id, lambda d: d.attempt_count >= 1)
    assert delivery.status == "pending"
    assert delivery.attempts[0].status_code == 500
    with pytest.raises(InvalidState):
        client.retry_webhook_delivery(delivery.id)


def test_list_webhook_deliveries_filters_by_status(
    client: Client, receiver: Callable[[int], str]
) -> None:
    """list_webhook_deliveries(status=...) keeps only deliveries of that status."""
    endpoint = client.create_webhook_endpoint(receiver(200))
    client.create_account("user:1", currency="USD")
    _wait_for_delivery(client, endpoint.id, lambda d: d.status == "succeeded")
    assert client.list_webhook_deliveries(endpoint.id, status="dead").data == []
    assert len(client.list_webhook_deliveries(endpoint.id, status="succeeded").data) == 1


def test_an_unknown_delivery_is_not_found(client: Client) -> None:
    """get_webhook_delivery and retry_webhook_delivery of an unknown id raise NotFound."""
    with pytest.raises(NotFound):
        client.get_webhook_delivery(MISSING_DELIVERY)
    with pytest.raises(NotFound):
        client.retry_webhook_delivery(MISSING_DELIVERY)


# -- async ---------------------------------------------------------------------------------


def test_async_client_manages_webhook_endpoints(server: Server, tenant: tuple[str, str]) -> None:
    """AsyncClient creates, reads, rotates and deletes an endpoint."""
    Endpoints = tuple[WebhookEndpoint, WebhookEndpoint, WebhookEndpoint, list[WebhookEndpoint]]

    async def scenario() -> Endpoints:
        async with AsyncClient(server.base_url, tenant[1]) as ledger:
            created = await ledger.create_webhook_endpoint(HOOK)
            fetched = await ledger.get_webhook_endpoint(created.id)
            rotated = await ledger.rotate_webhook_secret(created.id)
            await ledger.delete_webhook_endpoint(created.id)
            return created, fetched, rotated, (await ledger.list_webhook_endpoints()).data

    created, fetched, rotated, remaining = asyncio.run(scenario())
    assert created.secret is not None
    assert created.secret.startswith("whsec_")
    assert fetched.secret is None
    assert rotated.secret is not None
    assert rotated.secret != created.secret
    assert remaining == []
