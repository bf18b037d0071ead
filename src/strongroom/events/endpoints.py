"""Webhook endpoints and their delivery history: the service behind the HTTP routes.

An endpoint belongs to one tenant and subscribes to event types (``"*"`` for
all). Its URL is checked twice against the address policy: when it is saved
(the name must resolve, and only to public addresses unless the operator
allowed them) and again before every attempt, connecting to the address that
was checked. Its signing secret is shown when it is made or rotated, never
again; a rotation keeps the previous secret signing for an overlap.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from strongroom.domain.accounts import _rfc3339, is_text
from strongroom.domain.clock import Clock, SystemClock
from strongroom.domain.errors import InvalidState, NotFound, ValidationError
from strongroom.domain.ids import new_id
from strongroom.engine.ledger import Ledger
from strongroom.engine.pages import Page, check_limit, decode_cursor, page_of
from strongroom.engine.uow import UnitOfWork
from strongroom.events.addresses import AddressPolicy, AddressRefused
from strongroom.events.signing import new_secret
from strongroom.store import webhooks as sql
from strongroom.store.database import write_connection

RESOLVE_TIMEOUT = 5.0
MAX_EVENT_TYPES = 50
MAX_DESCRIPTION = 200
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
DELIVERY_STATUSES = ("pending", "succeeded", "dead")
_TYPE = re.compile(r"^[A-Za-z0-9_\-]{1,32}(\.[A-Za-z0-9_\-]{1,32}){0,3}$")


def _t(value: datetime | None) -> str | None:
    return None if value is None else _rfc3339(value)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    events: tuple[str, ...]
    description: str
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at),
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Endpoint:
        def t(value: str) -> datetime:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))

        return cls(
            id=body["id"],
            url=body["url"],
            events=tuple(body["events"]),
            description=body["description"],
            status=body["status"],
            disabled_reason=body["disabled_reason"],
            created_at=t(body["created_at"]),
            updated_at=t(body["updated_at"]),
        )


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=tuple(json.loads(row.events)),
        description=row.description,
        status=row.status,
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    response_excerpt: str
    duration_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": _rfc3339(self.at),
            "status_code": self.status_code,
            "error": self.error,
            "response_excerpt": self.response_excerpt,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    event_seq: int
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: tuple[Attempt, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "next_attempt_at": _t(self.next_attempt_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "delivered_at": _t(self.delivered_at),
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at),
            "attempts": [a.to_dict() for a in self.attempts],
        }


def _deliveries(conn: Connection, tenant: str, rows: Sequence[Any]) -> list[Delivery]:
    history: dict[str, list[Attempt]] = {}
    for a in sql.attempts_of(conn, tenant, [r.id for r in rows]):
        history.setdefault(a.delivery_id, []).append(
            Attempt(a.number, a.at, a.status_code, a.error, a.response_excerpt, a.duration_ms)
        )
    return [
        Delivery(
            id=r.id,
            endpoint_id=r.endpoint_id,
            event_id=r.event_id,
            event_type=r.event_type,
            event_seq=r.event_seq,
            status=r.status,
            attempt_count=r.attempts,
            next_attempt_at=r.next_attempt_at,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            attempts=tuple(history.get(r.id, ())),
        )
        for r in rows
    ]


def check_event_types(value: Any) -> tuple[str, ...]:
    """``["*"]`` or event type names, deduplicated and sorted."""
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError('events is a non-empty list: ["*"] or event types', loc=("events",))
    if len(value) > MAX_EVENT_TYPES:
        raise ValidationError(f"at most {MAX_EVENT_TYPES} event types", loc=("events",))
    names = set()
    for item in value:
        if not isinstance(item, str) or not (item == "*" or _TYPE.fullmatch(item)):
            raise ValidationError(f"{str(item)[:80]!r} is not an event type", loc=("events",))
        names.add(item)
    if "*" in names and len(names) > 1:
        raise ValidationError('"*" already takes every event type', loc=("events",))
    return tuple(sorted(names))


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not is_text(value) or len(value) > MAX_DESCRIPTION:
        raise ValidationError(
            f"description is text of at most {MAX_DESCRIPTION} characters", loc=("description",)
        )
    return str(value)


def _id_or_missing(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_text(value) or not 0 < len(value) <= 40:
        raise NotFound(f"{what} not found")
    return value


class Webhooks:
    """Endpoints, deliveries and manual retries, for every tenant of one database."""

    def __init__(self, engine: Engine, policy: AddressPolicy, clock: Clock | None = None) -> None:
        self.engine = engine
        self.policy = policy
        self.clock: Clock = clock or SystemClock()

    def _write(self) -> Any:
        return write_connection(self.engine)

    def check_url(self, url: Any) -> str:
        """The URL, once its syntax and every address its host resolves to are allowed."""
        if not isinstance(url, str):
            raise ValidationError("url is a string", loc=("url",))
        clean = self.policy.check_url(url)
        try:
            asyncio.run(asyncio.wait_for(self.policy.resolve(clean), RESOLVE_TIMEOUT))
        except AddressRefused as exc:
            raise ValidationError(f"url refused: {exc}", loc=("url",)) from None
        except TimeoutError:
            raise ValidationError(
                "url refused: its host did not resolve in time", loc=("url",)
            ) from None
        return clean

    # -- endpoints -----------------------------------------------------------------------

    def create(
        self,
        tenant: str,
        url: Any,
        events: Any,
        description: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[Endpoint, str | None]:
        """A new endpoint; its secret is returned here only (None on an idempotent replay)."""
        clean_url = self.check_url(url)
        types = check_event_types(events)
        text = _description(description)
        request = {"url": clean_url, "events": list(types), "description": text}
        made: dict[str, str] = {}

        def insert(uow: UnitOfWork) -> Endpoint:
            now = self.clock.now()
            secret = new_secret()
            endpoint = Endpoint(new_id("whe"), clean_url, types, text, "enabled", None, now, now)
            sql.insert_endpoint(
                uow.connection,
                {
                    "tenant_id": tenant,
                    "id": endpoint.id,
                    "url": clean_url,
                    "events": json.dumps(list(types)),
                    "description": text,
                    "status": "enabled",
                    "secret": secret,
                    # Under the tenant's head lock: every later event is after this.
                    "after_seq": sql.event_head(uow.connection, tenant),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            made["secret"] = secret
            return endpoint

        def work(uow: UnitOfWork) -> Endpoint:
            made.clear()
            return uow.idempotent(
                idempotency_key,
                "create_webhook_endpoint",
                request,
                lambda: insert(uow),
                Endpoint.to_dict,
                Endpoint.from_dict,
            )

        endpoint = Ledger(self.engine, tenant=tenant, clock=self.clock).transact(work)
        return endpoint, made.get("secret")

    def get(self, tenant: str, endpoint_id: Any) -> Endpoint:
        endpoint_id = _id_or_missing(endpoint_id, "webhook endpoint")
        with self.engine.connect() as conn:
            row = sql.get_endpoint(conn, tenant, endpoint_id)
        if row is None:
            raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
        return _endpoint(row)

    def list(self, tenant: str, *, limit: int = 100, cursor: str | None = None) -> Page[Endpoint]:
        limit = check_limit(limit)
        after = decode_cursor(cursor, "webhook_endpoints")
        with self.engine.connect() as conn:
            rows = sql.list_endpoints(conn, tenant, after=after, limit=limit + 1)
        return page_of([_endpoint(r) for r in rows], limit, "webhook_endpoints", lambda e: e.id)

    def update(
        self,
        tenant: str,
        endpoint_id: Any,
        *,
        url: Any = None,
        events: Any = None,
        description: Any = None,
        status: Any = None,
    ) -> Endpoint:
        """Change the URL, event types, description or status (``enabled`` re-enables)."""
        endpoint_id = _id_or_missing(endpoint_id, "webhook endpoint")
        values: dict[str, Any] = {}
        if url is not None:
            values["url"] = self.check_url(url)
        if events is not None:
            values["events"] = json.dumps(list(check_event_types(events)))
        if description is not None:
            values["description"] = _description(description)
        if status is not None:
            if status not in ("enabled", "disabled"):
                raise ValidationError('status is "enabled" or "disabled"', loc=("status",))
            values["status"] = status
            values["disabled_reason"] = None if status == "enabled" else "disabled by a user"
        values["updated_at"] = self.clock.now()
        with self._write() as conn, conn.begin():
            if not sql.update_endpoint(conn, tenant, endpoint_id, values):
                raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
            row = sql.get_endpoint(conn, tenant, endpoint_id)
        return _endpoint(row)

    def delete(self, tenant: str, endpoint_id: Any) -> Endpoint:
        """Delete the endpoint: nothing more is sent to it; its history is kept."""
        endpoint = self.get(tenant, endpoint_id)
        now = self.clock.now()
        with self._write() as conn, conn.begin():
            values = {"deleted_at": now, "updated_at": now, "status": "disabled"}
            if not sql.update_endpoint(conn, tenant, endpoint.id, values):
                raise NotFound(f"webhook endpoint {endpoint.id!r} not found")
        return endpoint

    def rotate_secret(
        self, tenant: str, endpoint_id: Any, *, overlap_seconds: Any = None
    ) -> tuple[Endpoint, str]:
        """A new secret (shown here only); the old one also signs for the overlap."""
        endpoint_id = _id_or_missing(endpoint_id, "webhook endpoint")
        overlap = DEFAULT_OVERLAP
        if overlap_seconds is not None:
            if (
                type(overlap_seconds) is not int
                or not 0 <= overlap_seconds <= MAX_OVERLAP.total_seconds()
            ):
                raise ValidationError(
                    f"overlap_seconds is 0 to {int(MAX_OVERLAP.total_seconds())}",
                    loc=("overlap_seconds",),
                )
            overlap = timedelta(seconds=overlap_seconds)
        now = self.clock.now()
        secret = new_secret()
        with self._write() as conn, conn.begin():
            row = sql.get_endpoint(conn, tenant, endpoint_id)
            if row is None:
                raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
            sql.update_endpoint(
                conn,
                tenant,
                endpoint_id,
                {
                    "secret": secret,
                    "previous_secret": row.secret if overlap else None,
                    "previous_secret_until": now + overlap if overlap else None,
                    "updated_at": now,
                },
            )
            row = sql.get_endpoint(conn, tenant, endpoint_id)
        return _endpoint(row), secret

    # -- deliveries ----------------------------------------------------------------------

    def deliveries(
        self,
        tenant: str,
        endpoint_id: Any,
        *,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        """The endpoint's deliveries with their attempts, newest event first."""
        endpoint = self.get(tenant, endpoint_id)
        limit = check_limit(limit)
        if status is not None and status not in DELIVERY_STATUSES:
            raise ValidationError(
                f"status is one of {', '.join(DELIVERY_STATUSES)}", loc=("status",)
            )
        before = decode_cursor(cursor, "webhook_deliveries")
        with self.engine.connect() as conn:
            rows = sql.list_deliveries(
                conn, tenant, endpoint.id, status=status, before_seq=before, limit=limit + 1
            )
            found = _deliveries(conn, tenant, rows)
        return page_of(found, limit, "webhook_deliveries", lambda d: d.event_seq)

    def get_delivery(self, tenant: str, delivery_id: Any) -> Delivery:
        delivery_id = _id_or_missing(delivery_id, "webhook delivery")
        with self.engine.connect() as conn:
            row = sql.get_delivery(conn, tenant, delivery_id)
            if row is None:
                raise NotFound(f"webhook delivery {delivery_id!r} not found")
            return _deliveries(conn, tenant, [row])[0]

    def retry(self, tenant: str, delivery_id: Any) -> Delivery:
        """Schedule a finished delivery (dead-lettered, or sent) for a new round at once."""
        delivery_id = _id_or_missing(delivery_id, "webhook delivery")
        now = self.clock.now()
        with self._write() as conn, conn.begin():
            row = sql.get_delivery(conn, tenant, delivery_id)
            if row is None:
                raise NotFound(f"webhook delivery {delivery_id!r} not found")
            if row.status == "pending":
                raise InvalidState("this delivery is already scheduled", delivery_status=row.status)
            endpoint = sql.get_endpoint(conn, tenant, row.endpoint_id)
            if endpoint is None or endpoint.status != "enabled":
                raise InvalidState(
                    "the endpoint is disabled; enable it first", delivery_status=row.status
                )
            sql.update_delivery(
                conn,
                tenant,
                delivery_id,
                {
                    "status": "pending",
                    "round_attempts": 0,
                    "next_attempt_at": now,
                    "lease_owner": None,
                    "lease_until": None,
                    "updated_at": now,
                },
            )
            row = sql.get_delivery(conn, tenant, delivery_id)
            return _deliveries(conn, tenant, [row])[0]
