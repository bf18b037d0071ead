"""A stream of its own per test, on the real NATS server, and ways to read it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import nats
import nats.js.errors
import pytest
from nats.aio.msg import Msg

from strongroom.events.nats import NatsPublisher

NATS_URL = os.environ.get("STRONGROOM_TEST_NATS_URL", "nats://127.0.0.1:4222")
CONSUME_SECONDS = 60.0


@dataclass(frozen=True)
class Space:
    """A stream and the subjects it captures, for one test."""

    stream: str
    prefix: str

    def publisher(self, url: str = NATS_URL, **options: Any) -> NatsPublisher:
        return NatsPublisher(url, stream=self.stream, prefix=self.prefix, **options)


@pytest.fixture
def space() -> Iterator[Space]:
    tag = uuid.uuid4().hex
    space = Space(stream=f"SRTEST_{tag}", prefix=f"srtest_{tag}")
    yield space
    asyncio.run(_delete_stream(space.stream))


async def _delete_stream(name: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def consume(space: Space, expected: int, subject: str | None = None) -> list[Msg]:
    """Every message of the stream (on ``subject``), read by a fresh ephemeral consumer.

    Reads until ``expected`` have arrived (for up to a minute: a loaded machine is
    slow), then checks that no more come. A fetch that finds nothing in time raises
    ``nats.errors.TimeoutError`` or, from nats-py 2.16 on, a bare
    ``asyncio.TimeoutError``: both are the builtin ``TimeoutError``.
    """
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject or f"{space.prefix}.>", stream=space.stream)
        received: list[Msg] = []
        deadline = time.monotonic() + CONSUME_SECONDS
        while len(received) < expected and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                batch = await sub.fetch(min(256, expected - len(received)), timeout=1)
                for msg in batch:  # acked, or the consumer stops at 1,000 unacked
                    await msg.ack()
                received.extend(batch)
        with contextlib.suppress(TimeoutError):
            received.extend(await sub.fetch(10, timeout=0.5))
        await sub.unsubscribe()
        return received
    finally:
        await nc.close()


async def stream_messages(space: Space) -> int:
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().stream_info(space.stream)
        return info.state.messages
    finally:
        await nc.close()
