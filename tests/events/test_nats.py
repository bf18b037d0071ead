"""The NATS JetStream sink, against the real server at ``STRONGROOM_TEST_NATS_URL``.

Each test has a stream and a subject prefix of its own (two streams may not
share subjects), and deletes its stream at the end.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from strongroom.events.nats import (
    STREAM,
    NatsPublisher,
    PublishFailed,
    redacted,
    subject_of,
)
from strongroom.events.sinks import EventPublisher, OutEvent
from tests.events.nats_support import NATS_URL, Space, _delete_stream, consume, stream_messages


def make_events(count: int, tenants: tuple[str, ...] = ("acme",)) -> list[OutEvent]:
    types = ("transaction.posted", "account.created", "hold.expired")
    return [
        OutEvent(
            tenant=tenants[i % len(tenants)],
            seq=i + 1,
            id=f"evt_{uuid.uuid4().hex}",
            type=types[i % len(types)],
            body=b'{"n": %d, "text": "caf\xc3\xa9"}' % i,
        )
        for i in range(count)
    ]


# -- subjects and URLs -------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "event_type", "prefix", "subject"),
    [
        pytest.param(
            "acme",
            "transaction.posted",
            "strongroom",
            "strongroom.acme.transaction.posted",
            id="plain",
        ),
        pytest.param(
            "acme.eu",
            "account.created",
            "strongroom",
            "strongroom.acme~eu.account.created",
            id="dotted-tenant",
        ),
        pytest.param("a.b.c", "x", "strongroom", "strongroom.a~b~c.x", id="many-dots"),
        pytest.param(
            "Big_Co-2", "hold.expired", "strongroom", "strongroom.Big_Co-2.hold.expired", id="mixed"
        ),
        pytest.param("t" * 64, "a.b", "strongroom", f"strongroom.{'t' * 64}.a.b", id="longest"),
        pytest.param("acme", "a.b", "x.y", "x.y.acme.a.b", id="custom-prefix"),
    ],
)
def test_subject_of(tenant: str, event_type: str, prefix: str, subject: str) -> None:
    assert subject_of(tenant, event_type, prefix=prefix) == subject


def test_subject_of_default_prefix() -> None:
    assert subject_of("acme", "transaction.posted") == "strongroom.acme.transaction.posted"


@pytest.mark.parametrize(
    ("tenant", "event_type"),
    [
        pytest.param("", "a.b", id="empty-tenant"),
        pytest.param("t" * 65, "a.b", id="long-tenant"),
        pytest.param("ac me", "a.b", id="space-in-tenant"),
        pytest.param("acme*", "a.b", id="wildcard-tenant"),
        pytest.param("acme", "", id="empty-type"),
        pytest.param("acme", "a..b", id="empty-token"),
        pytest.param("acme", "a.>", id="wildcard-type"),
        pytest.param("acme", "a b", id="space-in-type"),
        pytest.param("acme", "a\r\nPUB x 1", id="injection"),
    ],
)
def test_subject_of_refuses(tenant: str, event_type: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        subject_of(tenant, event_type)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("nats://127.0.0.1:4222", "nats://127.0.0.1:4222", id="no-credentials"),
        pytest.param("nats://alice:s3cret@h:4222", "nats://alice:***@h:4222", id="password"),
        pytest.param("nats://t0ken@h:4222", "nats://***@h:4222", id="token"),
        pytest.param("tls://a:p@ss/w@rd@h", "tls://a:***@h", id="unescaped-password"),
        pytest.param("alice:s3cret@h:4222", "alice:***@h:4222", id="no-scheme"),
        pytest.param(
            "nats://a:x@h1:4222,nats://b:y@h2:4222",
            "nats://a:***@h1:4222,nats://b:***@h2:4222",
            id="list",
        ),
    ],
)
def test_redacted(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_defaults() -> None:
    publisher = NatsPublisher(NATS_URL)
    assert (publisher.stream, publisher.prefix) == (STREAM, "strongroom")
    assert publisher.duplicate_window_seconds == 600
    assert "secret" not in repr(NatsPublisher("nats://u:secret@h:4222"))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"stream": "A.B"}, id="dotted-stream"),
        pytest.param({"prefix": "a.>"}, id="wildcard-prefix"),
        pytest.param({"prefix": ""}, id="empty-prefix"),
        pytest.param({"window": 0}, id="no-window"),
        pytest.param({"ack_timeout": 0}, id="no-timeout"),
    ],
)
def test_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each option has its own message
        NatsPublisher(NATS_URL, **options)


# -- publishing --------------------------------------------------------------


def test_is_an_event_publisher() -> None:
    publisher: EventPublisher = NatsPublisher(NATS_URL)
    assert publisher is not None


def test_every_event_arrives_once_intact(space: Space) -> None:
    tenants = ("acme", "acme.eu", "beta")
    events = make_events(600, tenants)  # more than two windows of 256

    async def scenario() -> tuple[list[Msg], list[Msg]]:
        async with space.publisher() as publisher:
            await publisher.publish(events[:10])
            await publisher.publish(events[10:])
        everything = await consume(space, len(events))
        one_type = await consume(space, 200, f"{space.prefix}.*.transaction.posted")
        return everything, one_type

    received, posted = asyncio.run(scenario())

    assert len(received) == len(events)
    # In publish order: no failure, so no retry that could reorder them.
    assert [m.metadata.sequence.stream for m in received] == list(range(1, len(events) + 1))
    for event, msg in zip(events, received, strict=True):
        assert msg.subject == subject_of(event.tenant, event.type, prefix=space.prefix)
        assert msg.data == event.body
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == event.id
        assert msg.headers["Strongroom-Tenant"] == event.tenant
        assert msg.headers["Strongroom-Event-Type"] == event.type
        assert msg.headers["Strongroom-Seq"] == str(event.seq)
    assert {m.subject.split(".")[1] for m in received} == {"acme", "acme~eu", "beta"}
    assert [m.data for m in posted] == [e.body for e in events if e.type == "transaction.posted"]


def test_creates_the_stream(space: Space) -> None:
    async def scenario() -> StreamConfig:
        async with space.publisher(duplicate_window_seconds=120) as publisher:
            await publisher.connect()
            await publisher.connect()  # connected already: nothing to do
        nc = await nats.connect(NATS_URL)
        try:
            return (await nc.jetstream().stream_info(space.stream)).config
        finally:
            await nc.close()

    config = asyncio.run(scenario())
    assert config.subjects == [f"{space.prefix}.>"]
    assert config.storage == StorageType.FILE
    assert config.duplicate_window == 120


def test_duplicates_are_dropped(space: Space) -> None:
    events = make_events(50, ("acme", "beta"))
    shuffled = random.sample(events, len(events))

    async def scenario() -> tuple[int, list[Msg]]:
        first = space.publisher()
        await first.publish(events)
        await first.publish(events[::-1])
        await first.aclose()
        # As after a crash and a restart: a new connection, the same events again,
        # in another order and other windows.
        async with space.publisher(window=7) as second:
            await second.publish(shuffled)
        return await stream_messages(space), await consume(space, 50)

    stored, received = asyncio.run(scenario())
    assert stored == 50
    ids = Counter(m.headers["Nats-Msg-Id"] for m in received if m.headers)
    assert len(received) == 50
    assert ids == Counter(e.id for e in events)


def test_an_existing_stream_keeps_its_config(space: Space) -> None:
    legacy = f"{space.prefix}_legacy.>"

    async def scenario() -> StreamConfig:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(name=space.stream, subjects=[legacy], duplicate_window=30)
            )
            async with space.publisher() as publisher:
                await publisher.publish(make_events(3))
            return (await js.stream_info(space.stream)).config
        finally:
            await nc.close()

    config = asyncio.run(scenario())
    assert config.subjects == [legacy, f"{space.prefix}.>"]
    assert config.duplicate_window == 30


def test_racing_publishers_share_one_stream(space: Space) -> None:
    batches = [make_events(20) for _ in range(4)]

    async def scenario() -> int:
        publishers = [space.publisher() for _ in batches]
        try:
            await asyncio.gather(*(p.publish(b) for p, b in zip(publishers, batches, strict=True)))
        finally:
            for publisher in publishers:
                await publisher.aclose()
        return await stream_messages(space)

    assert asyncio.run(scenario()) == 80


def test_recovers_after_a_failure(space: Space) -> None:
    events = make_events(30)

    async def scenario() -> tuple[PublishFailed, int]:
        async with space.publisher(ack_timeout=1) as publisher:
            await publisher.publish(events[:10])
            await _delete_stream(space.stream)  # the stream is gone under the publisher
            with pytest.raises(PublishFailed) as failure:
                await publisher.publish(events[10:20])
            # The next publish connects again, makes the stream again, and succeeds.
            await publisher.publish(events[10:])
        return failure.value, await stream_messages(space)

    failure, stored = asyncio.run(scenario())
    assert "10 of 10 events not acknowledged" in str(failure)
    assert isinstance(failure.__cause__, nats.errors.Error)
    assert stored == 20


def test_a_bad_event_publishes_nothing(space: Space) -> None:
    good, bad = make_events(2)
    bad = OutEvent(tenant="no tenant", seq=bad.seq, id=bad.id, type=bad.type, body=bad.body)

    async def scenario() -> None:
        async with space.publisher() as publisher:
            await publisher.connect()  # makes the stream
            with pytest.raises(ValueError, match="not a tenant id"):
                await publisher.publish([good, bad])
            await publisher.publish([])

    asyncio.run(scenario())
    assert asyncio.run(consume(space, 0)) == []


# -- failures and closing -----------------------------------------------------


class Proxy:
    """A TCP proxy to the NATS server that can cut its connections or stop answering."""

    def __init__(self) -> None:
        self.url = ""
        self.silent = False  # drop what the server sends: no acknowledgement arrives
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"nats://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = urlsplit(NATS_URL)
        up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer, lambda: False),
            self._pipe(up_reader, writer, lambda: self.silent),
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drop: Any) -> None:
        try:
            while data := await reader.read(65536):
                if not drop():
                    writer.write(data)
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()


def test_connects_again_after_the_connection_drops(space: Space) -> None:
    events = make_events(20)

    async def scenario() -> int:
        async with Proxy() as proxy, space.publisher(url=proxy.url) as publisher:
            await publisher.publish(events[:10])
            proxy.cut()
            await asyncio.sleep(0.1)  # the client sees the connection closed
            await publisher.publish(events[10:])
        return await stream_messages(space)

    assert asyncio.run(scenario()) == 20


def test_an_unresponsive_server_fails_within_the_ack_timeout(space: Space) -> None:
    events = make_events(20)

    async def scenario() -> tuple[PublishFailed, float, int]:
        async with Proxy() as proxy, space.publisher(url=proxy.url, ack_timeout=0.5) as publisher:
            await publisher.publish(events[:10])
            proxy.silent = True
            started = time.monotonic()
            with pytest.raises(PublishFailed) as failure:
                await publisher.publish(events)
            elapsed = time.monotonic() - started
            proxy.silent = False
            await publisher.publish(events)  # on a new connection
        return failure.value, elapsed, await stream_messages(space)

    failure, elapsed, stored = asyncio.run(scenario())
    assert "20 of 20 events not acknowledged" in str(failure)
    assert isinstance(failure.__cause__, asyncio.TimeoutError)
    assert elapsed < 2
    assert stored == 20  # the server had them all; the second copies were dropped


def test_an_unreachable_server_fails_fast_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "nats://user:secret@127.0.0.1:1"

    async def scenario() -> list[PublishFailed]:
        failures = []
        async with NatsPublisher(url, connect_timeout=0.5) as publisher:
            for _ in range(2):  # each publish tries to connect again
                with pytest.raises(PublishFailed) as failure:
                    await publisher.publish(make_events(1))
                failures.append(failure.value)
            with pytest.raises(PublishFailed):
                await publisher.connect()
        return failures

    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    failures = asyncio.run(scenario())
    assert time.monotonic() - started < 3
    for failure in failures:
        message = str(failure)
        assert "secret" not in message
        assert "nats://user:***@127.0.0.1:1" in message
        assert isinstance(failure.__cause__, OSError)  # connection refused
    assert "secret" not in caplog.text


def test_aclose_twice(space: Space) -> None:
    async def scenario() -> None:
        never_used = space.publisher()
        await never_used.aclose()
        await never_used.aclose()

        publisher = space.publisher()
        await publisher.publish(make_events(2))
        await publisher.aclose()
        await publisher.aclose()
        with pytest.raises(PublishFailed, match="closed"):
            await publisher.publish(make_events(1))

    asyncio.run(scenario())
