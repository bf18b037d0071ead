"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from anyio import CapacityLimiter
from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, Engine

from strongroom._version import __version__
from strongroom.access.bootstrap import banner, create_first_tenant
from strongroom.access.service import Access, Tenant
from strongroom.api import docs, problems
from strongroom.api.middleware import BodyLimit, Metrics, RequestId, StrictJson
from strongroom.api.routes import (
    access,
    accounts,
    events,
    ledger,
    service,
    transactions,
    webhooks,
)
from strongroom.api.settings import AWAIT_DATABASE_SECONDS, Settings
from strongroom.domain.clock import Clock
from strongroom.domain.errors import StorageUnavailable
from strongroom.engine.ledger import Ledger
from strongroom.events.addresses import AddressPolicy
from strongroom.events.endpoints import Webhooks
from strongroom.events.http import HttpSender
from strongroom.events.nats import NatsPublisher
from strongroom.events.relay import Relay
from strongroom.events.worker import Worker, integrity_jobs
from strongroom.store.database import create_db_engine, read_connection
from strongroom.store.migrate import upgrade

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
        engine = create_db_engine(settings.database_url, pool_size=40)
        app.state.settings = settings
        app.state.read_threads = CapacityLimiter(settings.read_threads)
        app.state.ledger = Ledger(engine, tenant="default")
        app.state.access = access = Access(engine, cache_keys=True)
        app.state.webhooks = Webhooks(engine, AddressPolicy.parse(settings.webhook_allowed_hosts))
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_revocations(access, stop))
        worker = worker_for(settings, engine, app.state.ledger) if settings.worker else None
        task = asyncio.create_task(_background(settings, engine, worker, stop))
        collector = _tune_gc() if settings.tune_gc else None
        try:
            yield
        finally:
            if collector is not None:
                gc.unfreeze()
                gc.set_threshold(*collector)
            # Stop the worker between passes, never inside one: a pass cut short would
            # leave its thread holding a connection while the pool is disposed.
            stop.set()
            await watcher
            await task
            if worker is not None:
                await worker.aclose()
            await asyncio.to_thread(app.state.ledger.close)  # its batches in flight first

    app = docs.DocumentedAPI(
        title="Strongroom",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: docs.install's do not
        redoc_url=None,
    )
    problems.install(app)
    docs.install(app)
    # The routers' routes go straight onto the app's router. include_router would
    # keep each router as a branch that every request walks and revalidates,
    # which was a tenth of the server's time per request. A request is matched
    # against the routes in order, so the writes come first, ahead of FastAPI's
    # own documentation routes; no two routers share a path.
    app.router.routes[:0] = [
        route
        for router in (
            transactions.router,
            accounts.router,
            ledger.router,
            events.router,
            webhooks.router,
            access.router,
            service.router,
        )
        for route in router.routes
    ]

    app.add_middleware(StrictJson)  # innermost: inside BodyLimit, counted by Metrics
    app.add_middleware(Metrics, requests=REQUESTS, latency=LATENCY)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestId)
    return app


GC_YOUNG_THRESHOLD = 10_000
"""Net new container objects that start a collection of the youngest generation (700
by default). A server holds thousands for its requests in flight; at 700 it
collected every few dozen requests, more than a millisecond each time."""


def _tune_gc() -> tuple[int, int, int]:
    """The collector of a server process; returns the thresholds it had.

    Everything made at startup (modules, routes, models, the pools) lives as long
    as the process: frozen, full collections no longer walk it. Those walks were
    pauses of 60 to 110 ms under load, each one stalling every request in flight
    on the worker. Then the youngest generation is collected once it holds
    :data:`GC_YOUNG_THRESHOLD` objects.
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *previous[1:])
    return previous


async def _background(
    settings: Settings, engine: Engine, worker: Worker | None, stop: asyncio.Event
) -> None:
    """The server's own work until ``stop``: the database first when it did not answer
    at start (``STRONGROOM_AWAIT_DATABASE``), then the worker's passes."""
    if settings.await_database and not await _await_database(settings, engine, stop):
        return
    if worker is not None:
        await worker.run(stop)


async def _await_database(settings: Settings, engine: Engine, stop: asyncio.Event) -> bool:
    """Migrate the database (and make the first tenant of an empty one) once it answers,
    trying every ``AWAIT_DATABASE_SECONDS``; /readyz answers 503 meanwhile. False
    when stopped first."""
    while not stop.is_set():
        try:
            first = await asyncio.to_thread(_migrate_and_bootstrap, engine)
        except StorageUnavailable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), AWAIT_DATABASE_SECONDS)
            continue
        log.info("the database answers; its schema is current")
        if first is not None:
            base = f"http://{settings.host}:{settings.port}"
            sys.stdout.write(banner(base, *first) + "\n")
            sys.stdout.flush()
        return True
    return False


def _migrate_and_bootstrap(engine: Engine) -> tuple[Tenant, str] | None:
    upgrade(engine)
    return create_first_tenant(Access(engine))


def worker_for(
    settings: Settings, engine: Engine, ledger: Ledger, *, clock: Clock | None = None
) -> Worker:
    """The relay and the integrity jobs, configured by ``settings``."""
    policy = AddressPolicy.parse(settings.webhook_allowed_hosts)
    relay = Relay(
        engine,
        sender=HttpSender(policy, timeout=settings.webhook_timeout_seconds),
        publisher=NatsPublisher(
            settings.nats_url, stream=settings.nats_stream, prefix=settings.nats_subject_prefix
        )
        if settings.nats_url
        else None,
        clock=clock,
        lease=timedelta(seconds=settings.relay_lease_seconds),
    )
    jobs = integrity_jobs(
        ledger,
        expire_every=settings.expiry_interval_seconds,
        reconcile_every=settings.reconcile_interval_seconds,
        checkpoint_every=settings.checkpoint_interval_seconds,
        signing_key_path=settings.signing_key_path,
    )
    return Worker(engine, relay, jobs, clock=clock, poll_interval=settings.poll_interval_seconds)


async def _watch_revocations(access: Access, stop: asyncio.Event) -> None:
    """Read the revocation epoch for the key cache until ``stop`` (see access.cache).

    The reads run on a thread of their own, on a connection of their own: on the
    event loop's executor or the pool's connections they would queue behind the
    requests of a loaded server, and every late read makes requests look their
    keys up in the database. The thread only keeps the cache useful; a late or
    failed read never lets a revoked key through (the cache then answers nothing).
    """
    done = threading.Event()
    thread = threading.Thread(
        target=_read_revocations, args=(access, done), name="strongroom-revocations", daemon=True
    )
    thread.start()
    try:
        await stop.wait()
    finally:
        done.set()
        await asyncio.to_thread(thread.join)


def _read_revocations(access: Access, done: threading.Event, *, retry_seconds: float = 0.5) -> None:
    """The watcher's thread: a read every ``refresh_seconds``, start to start, until ``done``.

    While the database does not answer, the failure is logged once, not every
    tick, and a new connection is tried every ``retry_seconds`` (keys are looked
    up in the database meanwhile, as long as there is no recent read).
    """
    cache = access.cache
    assert cache is not None
    failing = False
    conn: Connection | None = None
    try:
        while not done.is_set():
            began = cache.monotonic()
            try:
                if conn is None:
                    conn = read_connection(access.engine)
                access.refresh_revocations(conn)
            except Exception as exc:
                # A database that does not answer is told by /readyz, the worker and
                # every request (503); the keys are then looked up there, or refused.
                if not failing and not isinstance(exc, StorageUnavailable):
                    log.warning("cannot read the API key revocation epoch", exc_info=True)
                failing = True
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
            else:
                if failing:
                    log.info("reading the API key revocation epoch again")
                failing = False
            interval = retry_seconds if failing else cache.refresh_seconds
            done.wait(max(0.0, began + interval - cache.monotonic()))
    finally:
        if conn is not None:
            conn.close()


def app_from_environment() -> FastAPI:
    """The factory ``strongroom serve`` hands to uvicorn (settings from STRONGROOM_*)."""
    return create_app(Settings())
