"""ASGI middleware: a request id on every response, a bound on body size, strict JSON bodies."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.domain import strictjson
from strongroom.domain.errors import PayloadTooLarge, StrongroomError, ValidationError

log = logging.getLogger("strongroom.api")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")  # fullmatch: a "$" lets "\n" through
# Request ids need to be unique, not secret: a random prefix per process and a
# counter (one random draw per request showed up in profiles of the server).
_ID_PREFIX = secrets.token_hex(10)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """``req_`` and 32 hex digits: 80 random bits per process, then a counter."""
    return f"req_{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


class RequestId:
    """Take a sane incoming ``X-Request-Id`` or make one; echo it on every response.

    Also the last line of defence: an exception that escaped everything else is
    logged with the request id and answered as a 500 problem carrying it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error", extra={"request_id": request_id})
            if started:
                raise
            error = StrongroomError(
                f"an unexpected error occurred; quote request id {request_id} to the operator"
            )
            body = {**error.to_problem(), "request_id": request_id}
            await _send_problem(send_with_id, 500, body)


class Metrics:
    """Count requests and time them per route (pure ASGI: exceptions pass untouched)."""

    def __init__(self, app: ASGIApp, requests: Any, latency: Any) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - start)
            self.requests.labels(scope["method"], route, str(status)).inc()


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException passes through FastAPI's body parsing to the
                    # problem handler, which answers PAYLOAD_TOO_LARGE.
                    raise HTTPException(413, f"request bodies are limited to {self.limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(f"request bodies are limited to {self.limit} bytes")
        body: dict[str, Any] = {
            **error.to_problem(),
            "request_id": scope.get("state", {}).get("request_id"),
        }
        await _send_problem(send, 413, body)


class StrictJson:
    """Refuse a JSON body that is not strict JSON with 400 VALIDATION_ERROR.

    A duplicate key, a lone surrogate, ``NaN`` or nesting deeper than 64 (see
    :mod:`strongroom.domain.strictjson`) never reaches a route, where FastAPI's
    lenient ``json.loads`` would take the last duplicate. The body is read whole
    (it sits inside :class:`BodyLimit`, which bounds it), checked, and handed on
    as it came. It checks every body whose Content-Type mentions ``json``: a
    superset of the ones FastAPI parses as JSON (``application/json`` and
    ``application/*+json``), so none escapes. FastAPI does not parse a body of
    another type (or of none) as JSON; a route that takes JSON answers such a
    body with 400 VALIDATION_ERROR itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _names_json(scope["headers"]):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        failure: HTTPException | None = None
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except HTTPException as exc:  # BodyLimit's 413: raised again where the app reads
            failure = exc
        else:
            reason = _not_strict(messages)
            if reason is not None:
                await self._refuse(scope, send, reason)
                return
        pending = iter(messages)

        async def replay() -> Message:
            for message in pending:
                return message
            if failure is not None:
                raise failure
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, reason: str) -> None:
        error = ValidationError(f"the body is not strict JSON: {reason}", loc=("body",))
        body: dict[str, Any] = {
            **error.to_problem(),
            "instance": scope.get("path"),
            "request_id": scope.get("state", {}).get("request_id"),
        }
        await _send_problem(send, 400, body)


def _names_json(headers: Any) -> bool:
    """Whether a Content-Type header of the request mentions ``json``."""
    return any(name == b"content-type" and b"json" in value.lower() for name, value in headers)


def _not_strict(messages: list[Message]) -> str | None:
    """Why the body of ``messages`` is not strict JSON; ``None`` when it is, when it is
    empty (FastAPI reads no body then), or when the client left before sending it all."""
    if messages[-1]["type"] != "http.request":
        return None
    body = b"".join(message.get("body", b"") for message in messages)
    if not body:
        return None
    try:
        strictjson.loads(body)
    except strictjson.StrictJsonError as exc:
        return str(exc)
    return None


async def _send_problem(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
