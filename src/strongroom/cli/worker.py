"""``strongroom worker``: the relay and the integrity jobs in a process of their own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from strongroom.api.app import worker_for
from strongroom.api.settings import Settings
from strongroom.engine.ledger import Ledger
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import upgrade

log = logging.getLogger("strongroom.worker")


def run_worker(*, once: bool = False, **overrides: Any) -> int:
    """Run until SIGTERM/SIGINT (or, with ``once``, until no work is left); work done."""
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per webhook otherwise
    engine = create_db_engine(settings.database_url)
    try:
        upgrade(engine)
        return asyncio.run(_run(settings, engine, once))
    finally:
        engine.dispose()


async def _run(settings: Settings, engine: Any, once: bool) -> int:
    worker = worker_for(settings, engine, Ledger(engine, tenant="default", group_commit=False))
    try:
        if once:
            total = 0
            while done := await worker.tick():
                total += done
            return total
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("worker started")
        await worker.run(stop)
        log.info("worker stopped")
        return 0
    finally:
        await worker.aclose()
