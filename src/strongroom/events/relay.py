"""The outbox relay: every event, at least once, to every webhook endpoint and to NATS.

Three steps, each safe to run in any number of workers at once:

* ``fan_out`` turns each tenant's new outbox events into delivery rows, one per
  subscribed endpoint, and moves the tenant's ``webhooks`` cursor past them in
  the same transaction: a delivery is made exactly once, whatever crashes.
* ``deliver_due`` claims deliveries whose attempt is due (``SKIP LOCKED``, and a
  lease), sends them concurrently, and records each attempt. A worker killed
  after sending but before recording loses its lease, and the delivery is sent
  again: at least once, with the same ``webhook-id`` so receivers dedupe.
* ``publish`` leases a tenant's ``nats`` cursor, publishes the events after it
  with the event id as JetStream's message id, and advances the cursor only
  after every publish was acknowledged; a republish after a crash is dropped
  by JetStream as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Engine

from strongroom.domain.accounts import _rfc3339
from strongroom.domain.clock import Clock, SystemClock
from strongroom.domain.ids import new_id
from strongroom.events import schedule, signing
from strongroom.events.sinks import EventPublisher, OutEvent, SendResult, WebhookSender
from strongroom.store import webhooks as sql
from strongroom.store.database import write_connection

log = logging.getLogger("strongroom.relay")

ATTEMPTS = Counter("strongroom_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
PUBLISHED = Counter("strongroom_nats_published_total", "Events published to NATS JetStream")
WEBHOOKS = "webhooks"
NATS = "nats"


def event_body(event_id: str, event_type: str, created_at: datetime, data: str) -> bytes:
    """An event as JSON, the same shape as ``GET /v1/events`` gives it."""
    head = json.dumps({"id": event_id, "type": event_type, "created_at": _rfc3339(created_at)})
    return (head[:-1] + ', "data": ' + data + "}").encode()


def subscribed(types: Sequence[str], event_type: str) -> bool:
    return "*" in types or event_type in types


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant: str
    id: str
    endpoint_id: str
    event_id: str
    body: bytes
    url: str
    secrets: tuple[str, ...]
    attempts: int
    round_attempts: int


class Relay:
    """The relay's steps over one database; ``owner`` names this worker in leases."""

    def __init__(
        self,
        engine: Engine,
        *,
        sender: WebhookSender | None = None,
        publisher: EventPublisher | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 500,
        concurrency: int = 32,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.publisher = publisher
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self.batch = batch
        self.concurrency = concurrency
        self.rng = rng or random.Random()
        self.owner = new_id("wrk")
        self._nats_failures = 0
        self._nats_paused_until = self.clock.now()

    def _write(self) -> Any:
        return write_connection(self.engine)

    # -- fan-out -------------------------------------------------------------------------

    def fan_out(self) -> int:
        """Make the deliveries of new events; the number of deliveries made.

        A tenant without enabled endpoints has its cursor moved to its last event
        at once, and counts as no work: a busy ledger with no webhooks keeps the
        worker idle, not spinning.
        """
        with self.engine.connect() as conn:
            tenants = sql.tenants_behind(conn, WEBHOOKS)
        return sum(self._fan_out_tenant(tenant) for tenant in tenants)

    def _fan_out_tenant(self, tenant: str) -> int:
        now = self.clock.now()
        with self._write() as conn, conn.begin():
            seq = sql.lock_cursor(conn, tenant, WEBHOOKS, now)
            if seq is None:
                return 0  # another worker is on it
            endpoints = [
                (e.id, json.loads(e.events), e.after_seq)
                for e in sql.enabled_endpoints(conn, tenant)
            ]
            if not endpoints:
                sql.advance_cursor(
                    conn, tenant, WEBHOOKS, sql.event_head(conn, tenant), now, owner=None
                )
                return 0
            events = sql.events_after(conn, tenant, seq, self.batch)
            if not events:
                return 0
            rows = [
                self._delivery_row(tenant, endpoint_id, event, now)
                for event in events
                for endpoint_id, types, after_seq in endpoints
                if event.seq > after_seq and subscribed(types, event.type)
            ]
            sql.insert_deliveries(conn, rows)
            sql.advance_cursor(conn, tenant, WEBHOOKS, events[-1].seq, now, owner=None)
        # Events read but matching no endpoint are still work: the cursor moved.
        return max(len(rows), 1)

    @staticmethod
    def _delivery_row(tenant: str, endpoint_id: str, event: Any, now: datetime) -> dict[str, Any]:
        return {
            "tenant_id": tenant,
            "id": new_id("whd"),
            "endpoint_id": endpoint_id,
            "event_seq": event.seq,
            "event_id": event.id,
            "event_type": event.type,
            "status": "pending",
            "attempts": 0,
            "round_attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }

    # -- webhook attempts ----------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Send the deliveries due now; the number of attempts made."""
        if self.sender is None:
            return 0
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def attempt(item: _Claimed) -> tuple[_Claimed, datetime, SendResult]:
            async with gate:
                return await self._attempt(item)

        outcomes = await asyncio.gather(*(attempt(item) for item in claimed))
        await asyncio.to_thread(self._record, outcomes)
        return len(outcomes)

    def _claim(self) -> list[_Claimed]:
        now = self.clock.now()
        with self.engine.connect() as conn:
            if not sql.any_due(conn, now):
                return []  # a read, not a write transaction: an idle relay blocks no writer
        with self._write() as conn, conn.begin():
            pairs = sql.claim_due(
                conn, now, owner=self.owner, until=now + self.lease, limit=self.batch
            )
            rows = sql.claimed_details(conn, pairs)
        return [self._claimed(row, now) for row in rows]

    @staticmethod
    def _claimed(row: Any, now: datetime) -> _Claimed:
        secrets = [row.secret]
        if row.previous_secret and row.previous_secret_until and row.previous_secret_until > now:
            secrets.append(row.previous_secret)
        return _Claimed(
            tenant=row.tenant_id,
            id=row.id,
            endpoint_id=row.endpoint_id,
            event_id=row.event_id,
            body=event_body(row.event_id, row.event_type, row.event_created_at, row.event_data),
            url=row.url,
            secrets=tuple(secrets),
            attempts=row.attempts,
            round_attempts=row.round_attempts,
        )

    async def _attempt(self, item: _Claimed) -> tuple[_Claimed, datetime, SendResult]:
        assert self.sender is not None
        at = self.clock.now()
        headers = signing.headers(item.event_id, item.body, at, item.secrets)
        try:
            result = await self.sender.send(item.url, headers, item.body)
        except Exception as exc:  # a sender must not raise; if it does, it is a failure
            log.exception("webhook sender raised")
            result = SendResult(None, error=f"{type(exc).__name__}")
        return item, at, result

    def _record(self, outcomes: Sequence[tuple[_Claimed, datetime, SendResult]]) -> None:
        now = self.clock.now()
        with self._write() as conn, conn.begin():
            for item, at, result in outcomes:
                self._record_one(conn, item, at, result, now)

    def _record_one(
        self, conn: Connection, item: _Claimed, at: datetime, result: SendResult, now: datetime
    ) -> None:
        number = item.attempts + 1
        values: dict[str, Any] = {
            "attempts": number,
            "round_attempts": item.round_attempts + 1,
            "last_status_code": result.status_code,
            "last_error": result.error,
            "updated_at": now,
        }
        gone = result.status_code == 410
        if result.ok:
            outcome = "success"
            values |= {"status": "succeeded", "next_attempt_at": None, "delivered_at": now}
        elif gone:
            outcome = "gone"
            values |= {
                "status": "dead",
                "next_attempt_at": None,
                "last_error": "410 Gone: the endpoint was disabled",
            }
        else:
            outcome = "failure"
            retry_at = schedule.next_attempt(
                item.round_attempts + 1,
                now,
                retry_after_seconds=result.retry_after_seconds,
                rng=self.rng,
            )
            values |= {"status": "pending" if retry_at else "dead", "next_attempt_at": retry_at}
        attempt = {
            "number": number,
            "at": at,
            "status_code": result.status_code,
            "error": result.error,
            "response_excerpt": result.response_excerpt[:500],
            "duration_ms": result.duration_ms,
        }
        if not sql.record_attempt(conn, item.tenant, item.id, self.owner, attempt, values):
            log.warning("delivery %s: lease lost before its attempt was recorded", item.id)
            return
        ATTEMPTS.labels(outcome).inc()
        if gone:
            reason = f"the receiver answered 410 Gone at {_rfc3339(now)}"
            sql.update_endpoint(
                conn,
                item.tenant,
                item.endpoint_id,
                {"status": "disabled", "disabled_reason": reason, "updated_at": now},
            )
            log.warning("webhook endpoint %s disabled: 410 Gone", item.endpoint_id)

    # -- NATS JetStream ------------------------------------------------------------------

    async def publish(self) -> int:
        """Publish new events to the broker; the number published."""
        if self.publisher is None or self.clock.now() < self._nats_paused_until:
            return 0
        tenants = await asyncio.to_thread(self._tenants_behind, NATS)
        published = 0
        for tenant in tenants:
            try:
                published += await self._publish_tenant(tenant)
            except Exception as exc:
                # The broker is down or refusing: wait a little longer each time.
                self._nats_failures += 1
                pause = min(2 ** min(self._nats_failures, 6), 60)
                self._nats_paused_until = self.clock.now() + timedelta(seconds=pause)
                log.warning("NATS publish failed, next try in %ss: %s", pause, exc)
                return published
        self._nats_failures = 0
        return published

    def _tenants_behind(self, sink: str) -> list[str]:
        with self.engine.connect() as conn:
            return sql.tenants_behind(conn, sink)

    async def _publish_tenant(self, tenant: str) -> int:
        assert self.publisher is not None
        events = await asyncio.to_thread(self._lease_events, tenant)
        if events is None:
            return 0
        try:
            if events:
                await self.publisher.publish(events)
        except BaseException:
            await asyncio.to_thread(self._release, tenant)
            raise
        await asyncio.to_thread(self._advance, tenant, events)
        PUBLISHED.inc(len(events))
        return len(events)

    def _lease_events(self, tenant: str) -> list[OutEvent] | None:
        now = self.clock.now()
        with self._write() as conn, conn.begin():
            seq = sql.lease_cursor(conn, tenant, NATS, self.owner, now, now + self.lease)
        if seq is None:
            return None
        with self.engine.connect() as conn:
            rows = sql.events_after(conn, tenant, seq, self.batch)
        return [
            OutEvent(tenant, r.seq, r.id, r.type, event_body(r.id, r.type, r.created_at, r.data))
            for r in rows
        ]

    def _release(self, tenant: str) -> None:
        with self._write() as conn, conn.begin():
            sql.release_cursor(conn, tenant, NATS, self.owner)

    def _advance(self, tenant: str, events: list[OutEvent]) -> None:
        with self._write() as conn, conn.begin():
            if not events:
                sql.release_cursor(conn, tenant, NATS, self.owner)
                return
            now = self.clock.now()
            if not sql.advance_cursor(conn, tenant, NATS, events[-1].seq, now, owner=self.owner):
                log.warning("nats cursor of %s: lease lost; another worker republishes", tenant)

    # -- all of it -----------------------------------------------------------------------

    async def run_once(self) -> int:
        """One pass of every step; the amount of work done (0: nothing to do)."""
        done = await asyncio.to_thread(self.fan_out)
        done += await self.deliver_due()
        done += await self.publish()
        return done
