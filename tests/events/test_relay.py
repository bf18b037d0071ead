"""The relay's webhook deliveries: signatures, retries, dead letter, 410, leases, rotation."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook, WebhookVerificationError

from strongroom import Ledger
from strongroom.domain.clock import SystemClock
from strongroom.domain.errors import InvalidState
from strongroom.engine.requests import TransferRequest
from strongroom.events import schedule
from strongroom.events.addresses import AddressPolicy
from strongroom.events.endpoints import Webhooks
from strongroom.events.http import HttpSender
from strongroom.events.relay import Relay
from strongroom.testing import FakeClock
from tests.events.receiver import Receiver

POLICY = AddressPolicy.parse("127.0.0.1")


def relay_of(engine: Engine, clock: object, **kwargs: object) -> Relay:
    return Relay(engine, sender=HttpSender(POLICY, timeout=5), clock=clock, **kwargs)  # type: ignore[arg-type]


def drain(relay: Relay) -> int:
    """Run the relay until it finds nothing to do; the work done."""

    async def run() -> int:
        total = 0
        try:
            while done := await relay.run_once():
                total += done
        finally:
            if relay.sender is not None:
                await relay.sender.aclose()
        return total

    return asyncio.run(run())


def events_of(ledger: Ledger) -> list[dict[str, object]]:
    return [e.to_dict() for e in ledger.list_events(limit=1000).data]


@pytest.fixture
def live(open_ledger: Callable[..., Ledger]) -> Ledger:
    """A ledger on the real clock: the receiver checks timestamps against real time."""
    return open_ledger(clock=SystemClock())


def test_every_delivery_verifies_with_the_standard_webhooks_library(
    live: Ledger, engine: Engine, receivers: Callable[..., Receiver]
) -> None:
    """Each event reaches the receiver once, signed so that ``standardwebhooks`` accepts it."""
    receiver = receivers()
    hooks = Webhooks(engine, POLICY)
    endpoint, secret = hooks.create(live.tenant, receiver.url, ["*"])
    assert secret is not None
    assert secret.startswith("whsec_")
    live.create_account("a", currency="USD", overdraft_limit=None)
    live.create_account("b", currency="USD")
    live.transfer("a", "b", 100, "USD")
    drain(relay_of(engine, SystemClock()))
    got = receiver.received()
    expected = events_of(live)
    assert [r.headers["webhook-id"] for r in got] == [e["id"] for e in expected] or sorted(
        r.headers["webhook-id"] for r in got
    ) == sorted(str(e["id"]) for e in expected)
    for request in got:
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["id"] == request.headers["webhook-id"]
        assert {"id", "type", "created_at", "data"} == payload.keys()
    delivered = hooks.deliveries(live.tenant, endpoint.id).data
    assert {d.status for d in delivered} == {"succeeded"}
    assert all(d.attempts[0].status_code == 200 for d in delivered)


def test_a_tampered_or_stale_delivery_fails_the_receivers_check(
    live: Ledger, engine: Engine, receivers: Callable[..., Receiver]
) -> None:
    """A changed body, a changed id, another secret or an old timestamp fail verification."""
    receiver = receivers()
    _, secret = Webhooks(engine, POLICY).create(live.tenant, receiver.url, ["*"])
    assert secret is not None
    live.create_account("a", currency="USD")
    drain(relay_of(engine, SystemClock()))
    (request,) = receiver.received()
    Webhook(secret).verify(request.body, request.headers)  # the genuine one passes
    tampered = request.body.replace(b'"a"', b'"b"')
    other_id = {**request.headers, "webhook-id": "evt_forged"}
    old = datetime.now(UTC) - timedelta(minutes=10)
    stale_signature = Webhook(secret).sign(
        request.headers["webhook-id"], old, request.body.decode()
    )
    stale = {
        **request.headers,
        "webhook-timestamp": str(int(old.timestamp())),
        "webhook-signature": stale_signature,
    }
    wrong_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    for body, headers, key in [
        (tampered, request.headers, secret),
        (request.body, other_id, secret),
        (request.body, stale, secret),
        (request.body, request.headers, wrong_secret),
    ]:
        with pytest.raises(WebhookVerificationError):
            Webhook(key).verify(body, headers)


def test_three_failures_then_success_arrives_on_the_fourth_attempt(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """The retry schedule runs on the injected clock: attempts 1-3 fail, the 4th succeeds."""
    receiver = receivers(lambda n: (500, {}) if n <= 3 else (200, {}))
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receiver.url, ["account.created"])
    ledger.create_account("a", currency="USD")
    relay = relay_of(engine, clock)
    for number in range(1, 5):
        drain(relay)
        (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
        assert delivery.attempt_count == number
        if number < 4:
            assert delivery.status == "pending"
            assert delivery.next_attempt_at is not None
            drain(relay)  # not due yet: nothing is sent early
            assert len(receiver.received()) == number
            clock.set(delivery.next_attempt_at)
    assert delivery.status == "succeeded"
    assert [a.status_code for a in delivery.attempts] == [500, 500, 500, 200]
    assert len(set(receiver.ids())) == 1  # one webhook-id across every attempt
    timestamps = [r.headers["webhook-timestamp"] for r in receiver.received()]
    assert len(set(timestamps)) == 4  # a fresh timestamp (and signature) per attempt


def test_a_receiver_that_always_fails_ends_in_the_dead_letter(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """After the last attempt of about three days the delivery is dead; a retry by hand works."""
    failing = True
    receiver = receivers(lambda n: (500, {}) if failing else (200, {}))
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receiver.url, ["*"])
    ledger.create_account("a", currency="USD")
    relay = relay_of(engine, clock)
    started = clock.now()
    while True:
        drain(relay)
        (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
        if delivery.next_attempt_at is None:
            break
        clock.set(delivery.next_attempt_at)
    assert delivery.status == "dead"
    assert delivery.attempt_count == schedule.MAX_ATTEMPTS
    span = clock.now() - started
    assert timedelta(days=2) < span < timedelta(days=4)
    assert hooks.deliveries(ledger.tenant, endpoint.id, status="dead").data == [delivery]
    failing = False
    retried = hooks.retry(ledger.tenant, delivery.id)
    assert retried.status == "pending"
    drain(relay)
    assert hooks.get_delivery(ledger.tenant, delivery.id).status == "succeeded"
    assert len(receiver.received()) == schedule.MAX_ATTEMPTS + 1


def test_410_gone_disables_the_endpoint(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """A 410 dead-letters the delivery and disables the endpoint: nothing more is sent."""
    receiver = receivers(lambda n: (410, {}))
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receiver.url, ["*"])
    ledger.create_account("a", currency="USD")
    relay = relay_of(engine, clock)
    drain(relay)
    assert hooks.get(ledger.tenant, endpoint.id).status == "disabled"
    assert "410" in (hooks.get(ledger.tenant, endpoint.id).disabled_reason or "")
    (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
    assert delivery.status == "dead"
    with pytest.raises(InvalidState):
        hooks.retry(ledger.tenant, delivery.id)
    ledger.create_account("b", currency="USD")
    clock.advance(days=1)
    drain(relay)
    assert len(receiver.received()) == 1


def test_retry_after_is_honoured(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """A 503 with Retry-After: 3600 is tried again no sooner than an hour later."""
    receivers_answer = receivers(lambda n: (503, {"Retry-After": "3600"}))
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receivers_answer.url, ["*"])
    ledger.create_account("a", currency="USD")
    drain(relay_of(engine, clock))
    (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at - clock.now() >= timedelta(hours=1)


def test_an_endpoint_gets_only_its_event_types_and_only_later_events(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """Subscriptions filter by type; events before the endpoint existed are not sent."""
    receiver = receivers()
    hooks = Webhooks(engine, POLICY, clock)
    ledger.create_account("early", currency="USD", overdraft_limit=None)
    hooks.create(ledger.tenant, receiver.url, ["transaction.posted"])
    ledger.create_account("late", currency="USD")
    tx = ledger.transfer("early", "late", 5, "USD")
    drain(relay_of(engine, clock))
    (request,) = receiver.received()
    body = json.loads(request.body)
    assert body["type"] == "transaction.posted"
    assert body["data"]["id"] == tx.id


def test_rotation_signs_with_both_secrets_during_the_overlap(
    live: Ledger, engine: Engine, receivers: Callable[..., Receiver]
) -> None:
    """After a rotation either secret verifies; with no overlap only the new one does."""
    receiver = receivers()
    hooks = Webhooks(engine, POLICY)
    endpoint, old = hooks.create(live.tenant, receiver.url, ["*"])
    _, new = hooks.rotate_secret(live.tenant, endpoint.id)
    assert old is not None
    assert new != old
    live.create_account("a", currency="USD")
    relay = relay_of(engine, SystemClock())
    drain(relay)
    (first,) = receiver.received()
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(first.body, first.headers)
    Webhook(new).verify(first.body, first.headers)
    _, newest = hooks.rotate_secret(live.tenant, endpoint.id, overlap_seconds=0)
    live.create_account("b", currency="USD")
    drain(relay_of(engine, SystemClock()))
    second = receiver.received()[1]
    Webhook(newest).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(second.body, second.headers)


def test_a_worker_killed_mid_attempt_loses_its_lease_to_another(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """Claimed deliveries of a worker that never came back are sent by another after the lease."""
    receiver = receivers()
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receiver.url, ["*"])
    ledger.create_account("a", currency="USD")
    dead = relay_of(engine, clock, lease=timedelta(seconds=30))
    dead.fan_out()
    assert len(dead._claim()) == 1  # claimed, then the worker "dies" before sending
    other = relay_of(engine, clock)
    drain(other)
    assert receiver.received() == []  # the lease still holds
    clock.advance(31)
    drain(other)
    assert len(receiver.received()) == 1
    (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
    assert delivery.status == "succeeded"


def test_an_address_refused_at_send_time_is_a_failed_attempt(
    ledger: Ledger, engine: Engine, clock: FakeClock, receivers: Callable[..., Receiver]
) -> None:
    """If the policy no longer allows the address, nothing is sent and the attempt fails."""
    receiver = receivers()
    hooks = Webhooks(engine, POLICY, clock)
    endpoint, _ = hooks.create(ledger.tenant, receiver.url, ["*"])
    ledger.create_account("a", currency="USD")
    strict = Relay(engine, sender=HttpSender(AddressPolicy.parse(""), timeout=5), clock=clock)
    drain(strict)
    assert receiver.received() == []
    (delivery,) = hooks.deliveries(ledger.tenant, endpoint.id).data
    assert delivery.status == "pending"
    assert delivery.last_status_code is None
    assert "refused" in (delivery.last_error or "")


def test_two_workers_share_the_deliveries_without_sending_any_twice(
    live: Ledger, engine: Engine, receivers: Callable[..., Receiver]
) -> None:
    """Relays running at once claim disjoint deliveries: each event is sent exactly once."""
    receiver = receivers()
    Webhooks(engine, POLICY).create(live.tenant, receiver.url, ["*"])
    live.create_account("a", currency="USD", overdraft_limit=None)
    live.create_account("b", currency="USD")
    for _ in range(3):
        live.batch([TransferRequest("a", "b", 1, "USD") for _ in range(100)])
    relays = [relay_of(engine, SystemClock(), batch=25) for _ in range(3)]

    async def run_all() -> list[int]:
        async def drain_one(relay: Relay) -> int:
            total = 0
            while done := await relay.run_once():
                total += done
            return total

        try:
            return list(await asyncio.gather(*(drain_one(r) for r in relays)))
        finally:
            for relay in relays:
                assert relay.sender is not None
                await relay.sender.aclose()

    work = asyncio.run(run_all())
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 302
    assert sum(1 for n in work if n > 0) >= 2  # the work was shared
