"""The NATS JetStream sink of the outbox relay.

Each outbox event becomes one JetStream message:

* subject ``<prefix>.<tenant>.<event type>`` (see :func:`subject_of`), e.g.
  ``strongroom.acme.transaction.posted``; subscribers filter on
  ``strongroom.acme.>`` (one tenant) or ``strongroom.*.transaction.posted`` (one
  type, every tenant);
* payload: the event's JSON body, byte for byte;
* headers ``Nats-Msg-Id`` (the event id: JetStream drops a second copy published
  inside the stream's duplicate window, so the relay may republish a batch after
  a crash without duplicating anything), ``Strongroom-Tenant``,
  ``Strongroom-Event-Type`` and ``Strongroom-Seq`` (the event's place in its
  tenant's commit order).

The stream (``STRONGROOM`` on ``strongroom.>``, file storage, a 10 minute
duplicate window) is created on the first publish of each connection if it is
missing; an existing stream keeps its configuration, except that its subjects
are extended to cover ``<prefix>.>`` if they do not already.

Events of one batch are published in order, a window of them at a time, each
awaiting its own acknowledgement. A batch either is acknowledged in full or
:meth:`NatsPublisher.publish` raises :class:`PublishFailed`, and the caller
publishes it again later: some of its events may be stored already, and are
dropped as duplicates then. After such a retry the stream order of a tenant's
events may differ from their commit order; ``Strongroom-Seq`` is the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Final

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from strongroom.events.sinks import OutEvent

__all__ = [
    "DEFAULT_PREFIX",
    "STREAM",
    "NatsPublisher",
    "PublishFailed",
    "redacted",
    "subject_of",
]

_logger = logging.getLogger(__name__)

STREAM: Final = "STRONGROOM"
DEFAULT_PREFIX: Final = "strongroom"

#: How many publishes are awaiting their acknowledgement at once, at most.
DEFAULT_WINDOW: Final = 256

_TENANT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# One subject token: no separator, wildcard, whitespace or control character.
_TOKEN = re.compile(r"^[^.*>\s\x00-\x1f\x7f]+$")
_STREAM_NAME = re.compile(r"^[^.*>/\\\s\x00-\x1f\x7f]{1,255}$")
_STREAM_NAME_IN_USE: Final = 10058  # JetStream error code: a stream of that name exists

# What a failed publish or stream lookup raises: the client's own errors, the
# socket's, and a timeout waiting for the server.
_NATS_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)


class PublishFailed(Exception):
    """Not every event was acknowledged by JetStream; publish the batch again later.

    The error of ``nats-py`` (or of the socket) is the ``__cause__``; the message
    never shows the credentials of the server URL.
    """


def subject_of(tenant: str, event_type: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The subject of an event: ``<prefix>.<tenant>.<event type>``.

    A tenant id is one subject token, so each ``.`` in it becomes ``~`` (a
    character no tenant id has): tenant ``acme.eu`` publishes on
    ``strongroom.acme~eu.transaction.posted``. The dots of the event type stay,
    so ``strongroom.*.transaction.>`` matches every transaction event.

    Raises ``ValueError`` for a tenant id or event type that cannot be a subject.
    """
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"not a tenant id: {tenant!r}")
    tokens = event_type.split(".")
    if not all(_TOKEN.fullmatch(token) for token in tokens):
        raise ValueError(f"not an event type: {event_type!r}")
    return f"{prefix}.{tenant.replace('.', '~')}.{event_type}"


def redacted(url: str) -> str:
    """``url`` (or a comma-separated list of them) with its credentials masked.

    ``nats://alice:s3cret@host:4222`` becomes ``nats://alice:***@host:4222``, and
    ``nats://t0ken@host`` (a token) becomes ``nats://***@host``.
    """
    return ",".join(_redact_one(server) for server in url.split(","))


def _redact_one(server: str) -> str:
    scheme, sep, rest = server.partition("://")
    if not sep:
        scheme, rest = "", server
    # Everything up to the last '@' is credentials, even an unescaped '/' or '@'
    # in a password: masking too much beats showing part of a secret.
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return server
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}{sep}{user + ':***' if colon else '***'}@{host}"


def _secrets_of(url: str) -> list[str]:
    """The credentials in ``url``, longest first, to scrub from error messages."""
    found: set[str] = set()
    for server in url.split(","):
        rest = server.partition("://")[2] or server
        userinfo, at, _host = rest.rpartition("@")
        if at and userinfo:
            # A user name is no secret, but a token (a user without password) is.
            _user, colon, password = userinfo.partition(":")
            found.update(s for s in (userinfo, password if colon else userinfo) if s)
    return sorted(found, key=len, reverse=True)


def _covers(pattern: str, subject: str) -> bool:
    """Whether stream subject ``pattern`` matches every subject ``subject`` matches."""
    want = subject.split(".")
    parts = pattern.split(".")
    for i, part in enumerate(parts):
        if part == ">":
            return i < len(want)
        if i >= len(want) or want[i] == ">" or part not in ("*", want[i]):
            return False
    return len(parts) == len(want)


class NatsPublisher:
    """Publishes outbox events to a JetStream stream: the relay's ``EventPublisher``.

    ``url`` is a NATS server URL, possibly with credentials
    (``nats://user:password@host:4222``, ``nats://token@host:4222``), or several
    separated by commas. The connection is made on the first :meth:`publish`
    (or by :meth:`connect`) and made again after any failure: a publisher
    outlives a restart of the server. Use one publisher from one event loop.

    ``prefix`` is the first token(s) of every subject and ``stream`` the stream
    capturing ``<prefix>.>``; ``duplicate_window_seconds`` is the window of a
    stream this publisher creates (an existing stream keeps its own), and must
    exceed the time the relay may take to republish a batch after a failure.
    ``connect_timeout`` bounds each connection attempt (two per server) and
    ``ack_timeout`` the wait for each acknowledgement; ``window`` publishes are
    awaiting their acknowledgement at once, at most.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        prefix: str = DEFAULT_PREFIX,
        duplicate_window_seconds: float = 600,
        connect_timeout: float = 5,
        ack_timeout: float = 5,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        servers = [server.strip() for server in url.split(",") if server.strip()]
        if not servers:
            raise ValueError("no NATS server URL")
        if not _STREAM_NAME.fullmatch(stream):
            raise ValueError(f"not a stream name: {stream!r}")
        if not all(_TOKEN.fullmatch(token) for token in prefix.split(".")):
            raise ValueError(f"not a subject prefix: {prefix!r}")
        if duplicate_window_seconds <= 0 or connect_timeout <= 0 or ack_timeout <= 0:
            raise ValueError("the duplicate window and the timeouts must be positive")
        if window < 1:
            raise ValueError("the window must be at least 1")
        self._servers = servers
        self._where = redacted(",".join(servers))
        self._secrets = _secrets_of(url)
        self.stream = stream
        self.prefix = prefix
        self.duplicate_window_seconds = float(duplicate_window_seconds)
        self.connect_timeout = float(connect_timeout)
        self.ack_timeout = float(ack_timeout)
        self.window = window
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._closed = False
        self._last_error: BaseException | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"NatsPublisher({self._where!r}, stream={self.stream!r}, prefix={self.prefix!r})"

    async def __aenter__(self) -> NatsPublisher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def subject_of(self, event: OutEvent) -> str:
        """The subject ``event`` is published on."""
        return subject_of(event.tenant, event.type, prefix=self.prefix)

    async def connect(self) -> None:
        """Connect and make sure the stream exists, unless connected already.

        Not needed before :meth:`publish`, which connects when it must; call it
        to find a wrong URL or a server without JetStream at startup.
        """
        await self._jetstream()

    async def publish(self, events: Sequence[OutEvent]) -> None:
        """Publish every event, each acknowledged by JetStream, or raise :class:`PublishFailed`.

        Raises ``ValueError``, before publishing anything, for an event whose
        tenant id or type cannot be part of a subject.
        """
        subjects = [self.subject_of(event) for event in events]
        if not events:
            return
        js = await self._jetstream()
        try:
            for start in range(0, len(events), self.window):
                chunk = events[start : start + self.window]
                results = await asyncio.gather(
                    *(
                        self._publish_one(js, subject, event)
                        for subject, event in zip(
                            subjects[start : start + self.window], chunk, strict=True
                        )
                    ),
                    return_exceptions=True,
                )
                failed = [
                    (event, result)
                    for event, result in zip(chunk, results, strict=True)
                    if isinstance(result, BaseException)
                ]
                if failed:
                    event, error = failed[0]
                    if not isinstance(error, Exception):  # CancelledError and the like
                        raise error
                    raise self._failure(
                        f"{len(failed)} of {len(chunk)} events not acknowledged "
                        f"(first: {event.id} on {self.subject_of(event)})",
                        error,
                    ) from error
        except BaseException:
            # The connection may be the trouble (or the stream gone): start afresh.
            await self._discard()
            raise

    async def aclose(self) -> None:
        """Close the connection; publishing after this raises :class:`PublishFailed`. Idempotent."""
        self._closed = True
        await self._discard()

    # -- the connection ------------------------------------------------------

    async def _publish_one(self, js: JetStreamContext, subject: str, event: OutEvent) -> None:
        headers = {
            "Nats-Msg-Id": event.id,
            "Strongroom-Tenant": event.tenant,
            "Strongroom-Event-Type": event.type,
            "Strongroom-Seq": str(event.seq),
        }
        # ``stream`` adds the Nats-Expected-Stream header: the server refuses the
        # message rather than store it in some other stream on the same subjects.
        await js.publish(
            subject, event.body, timeout=self.ack_timeout, stream=self.stream, headers=headers
        )

    async def _jetstream(self) -> JetStreamContext:
        async with self._lock:
            if self._closed:
                raise PublishFailed(f"the publisher to {self._where} is closed")
            if self._js is not None and self._nc is not None and self._nc.is_connected:
                return self._js
            await self._discard()
            self._last_error = None
            nc = Client()
            try:
                await nc.connect(
                    self._servers,
                    error_cb=self._on_error,
                    name="strongroom-relay",
                    # nats-py retries each server in a loop of its own before giving
                    # up (by default 60 times, 2 s apart, even with reconnection
                    # off): cut that to two attempts back to back. After a
                    # disconnection the client closes and the next publish connects.
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    # nats-py annotates it int, but hands it to asyncio.wait_for.
                    connect_timeout=self.connect_timeout,  # type: ignore[arg-type]
                )
            except _NATS_ERRORS as exc:
                # NoServersError says only that every attempt failed: the last
                # attempt's error, given to the error callback, says why.
                cause: BaseException = exc
                if isinstance(exc, nats.errors.NoServersError) and self._last_error is not None:
                    cause = self._last_error
                await _close_quietly(nc)
                raise self._failure(f"cannot connect to NATS at {self._where}", cause) from cause
            try:
                js = nc.jetstream(timeout=self.ack_timeout)
                await self._ensure_stream(js)
            except _NATS_ERRORS as exc:
                await _close_quietly(nc)
                raise self._failure(f"cannot set up stream {self.stream}", exc) from exc
            except BaseException:
                await _close_quietly(nc)
                raise
            self._nc, self._js = nc, js
            return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream if missing; make an existing one capture ``<prefix>.>``.

        Two processes may race to create it: the loser finds it made and moves on.
        """
        wanted = f"{self.prefix}.>"
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[wanted],
                storage=StorageType.FILE,
                duplicate_window=self.duplicate_window_seconds,
            )
            try:
                await js.add_stream(config)
                _logger.info("created JetStream stream %s on %s", self.stream, wanted)
                return
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_NAME_IN_USE:
                    raise
            info = await js.stream_info(self.stream)  # made by someone else meanwhile
        config = info.config
        subjects = list(config.subjects or [])
        if not any(_covers(pattern, wanted) for pattern in subjects):
            # nats-py keeps only the config fields it knows: on a newer server, an
            # update could reset one it does not. Only an operator's stream gets here.
            await js.update_stream(replace(config, subjects=[*subjects, wanted]))
            _logger.warning("added %s to the subjects of JetStream stream %s", wanted, self.stream)
        window = config.duplicate_window or 0
        if window < self.duplicate_window_seconds:
            _logger.warning(
                "JetStream stream %s drops duplicates within %ss only, not %ss",
                self.stream,
                window,
                self.duplicate_window_seconds,
            )

    async def _discard(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await _close_quietly(nc)

    async def _on_error(self, exc: Exception) -> None:
        # Instead of nats-py's default, which logs each failed attempt with a traceback.
        self._last_error = exc
        _logger.warning("NATS at %s: %s", self._where, self._scrub(_describe(exc)))

    def _failure(self, what: str, exc: BaseException) -> PublishFailed:
        return PublishFailed(f"{what}: {self._scrub(_describe(exc))}")

    def _scrub(self, text: str) -> str:
        """``text`` (an error of nats-py) without the credentials of the URL, just in case."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


async def _close_quietly(nc: Client) -> None:
    """Close a client, flushing what it has buffered to the socket.

    Not ``drain()``: every publish awaits its acknowledgement, so nothing is left
    to drain, and ``drain()`` ends with a flush waiting up to 10 s (fixed) for a
    server that may be the reason the connection is being dropped.
    """
    with contextlib.suppress(*_NATS_ERRORS):
        await nc.close()
