"""The ports of the relay: what sends a webhook and what publishes to a broker.

Each has one real implementation (``httpx`` for webhooks, ``nats-py`` for
JetStream) and an in-memory fake in ``strongroom.testing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutEvent:
    """An outbox event on its way out: ``body`` is its JSON, byte for byte as sent."""

    tenant: str
    seq: int
    id: str
    type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one webhook attempt got back: a status code, or an error without one."""

    status_code: int | None
    error: str | None = None
    retry_after_seconds: float | None = None
    response_excerpt: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST ``body`` to ``url``; never raises for a network or HTTP failure."""
        ...

    async def aclose(self) -> None: ...


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[OutEvent]) -> None:
        """Publish every event, acknowledged by the broker, or raise."""
        ...

    async def aclose(self) -> None: ...
