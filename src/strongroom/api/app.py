"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from strongroom._version import __version__
from strongroom.access.service import Access
from strongroom.api import problems
from strongroom.api.middleware import BodyLimit, Metrics, RequestId
from strongroom.api.routes import access, accounts, events, ledger, service, transactions
from strongroom.api.settings import Settings
from strongroom.engine.ledger import Ledger
from strongroom.store.database import create_db_engine

log = logging.getLogger("strongroom.api")
REQUESTS = Counter("strongroom_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("strongroom_http_request_seconds", "HTTP request latency", ["method", "route"])

DESCRIPTION = """
The Strongroom ledger over HTTP. Authenticate with `Authorization: Bearer <api key>`.

* Amounts are JSON integers in minor units, > 0 and < 2^63; never floats or strings.
* Writes take `Idempotency-Key` (1 to 255 printable characters): the same key and
  request return the first response again with `Idempotent-Replayed: true`; the
  same key with another request answers 422 `IDEMPOTENCY_KEY_REUSED`; a duplicate
  sent while the first is in flight waits for it and never applies twice.
* Lists take `limit` (1 to 1000, default 100) and `cursor`, and answer
  `{"data": [...], "next_cursor": ...}` in a stable order.
* Limits: request bodies up to 1 MiB (413 `PAYLOAD_TOO_LARGE`), batches up to
  1,000 transactions, transactions up to 256 lines.
* Errors are `application/problem+json` (RFC 9457) with a stable `code`.
* Another tenant's id answers exactly like a missing one: 404 `NOT_FOUND`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings.database_url, pool_size=20)
        app.state.settings = settings
        app.state.ledger = Ledger(engine, tenant="default")
        app.state.access = Access(engine)
        stop = asyncio.Event()
        sweeper = None
        if settings.expiry_interval_seconds > 0:
            sweeper = asyncio.create_task(
                _expire_holds_until(stop, app.state.ledger, settings.expiry_interval_seconds)
            )
        try:
            yield
        finally:
            # Stop the sweeper between runs, never inside one: a run cut short would
            # leave its thread holding a connection while the pool is disposed.
            stop.set()
            if sweeper is not None:
                await sweeper
            engine.dispose()

    app = FastAPI(
        title="Strongroom",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    for router in (
        access.router,
        accounts.router,
        transactions.router,
        ledger.router,
        events.router,
        service.router,
    ):
        app.include_router(router)

    app.add_middleware(Metrics, requests=REQUESTS, latency=LATENCY)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestId)
    return app


async def _expire_holds_until(stop: asyncio.Event, ledger: Ledger, interval: float) -> None:
    """Void holds past their deadline with status ``expired``, every ``interval`` seconds."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        try:
            expired = await asyncio.to_thread(ledger.expire_holds_of_all_tenants)
        except Exception:
            log.exception("hold expiry failed; retrying at the next interval")
            continue
        if expired:
            log.info("expired %d holds", expired)


def app_from_environment() -> FastAPI:
    """The factory ``strongroom serve`` hands to uvicorn (settings from STRONGROOM_*)."""
    return create_app(Settings())
