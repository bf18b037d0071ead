"""The worker: the outbox relay and the integrity jobs, on a schedule.

``strongroom worker`` runs one; ``strongroom serve`` runs one inside the server
unless told not to. Any number can run against one PostgreSQL database: the
relay shares its work through ``SKIP LOCKED`` claims and leases, and each
shared job's run is claimed by one worker through the ``scheduled_jobs`` table.

Jobs (each also a CLI command):

* ``expire-holds`` (every worker, every second by default): void holds past
  their deadline with status ``expired``;
* ``reconcile`` (shared, hourly): replay each tenant's journal once, checking
  its hash chain and comparing the stored running sums with the replay; a broken
  chain or drift is reported, never repaired (that is ``reconcile --rebuild``,
  an operator's decision);
* ``checkpoint`` (shared, hourly, only with a signing key): sign each tenant's
  chain head.

A job's outcome is logged, counted in Prometheus, and kept in ``scheduled_jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine

from strongroom.domain.clock import Clock, SystemClock
from strongroom.domain.errors import StorageUnavailable
from strongroom.engine.checkpoints import SigningKey
from strongroom.engine.ledger import Ledger
from strongroom.events.relay import Relay
from strongroom.store import webhooks as sql
from strongroom.store.database import write_connection

log = logging.getLogger("strongroom.worker")
JOB_RUNS = Counter("strongroom_job_runs_total", "Integrity job runs", ["job", "outcome"])


@dataclass(frozen=True, slots=True)
class Job:
    """``run`` returns (ok, detail); ``shared`` jobs run on one worker per interval."""

    name: str
    interval: timedelta
    run: Callable[[], tuple[bool, str]]
    shared: bool = True


def integrity_jobs(
    ledger: Ledger,
    *,
    expire_every: float = 1.0,
    reconcile_every: float = 3600.0,
    checkpoint_every: float = 3600.0,
    signing_key_path: Path | None = None,
) -> list[Job]:
    """The integrity jobs over every tenant of ``ledger``'s database; 0 turns one off."""

    def tenants() -> list[Ledger]:
        return [ledger.for_tenant(t, create=False) for t in ledger.tenant_ids()]

    def expire() -> tuple[bool, str]:
        return True, f"expired {ledger.expire_holds_of_all_tenants()} holds"

    def reconcile() -> tuple[bool, str]:
        # One replay of each journal checks both the chain and the running sums.
        drift = {}
        for one in tenants():
            report = one.reconcile(rebuild=False)
            if not report.ok:
                drift[one.tenant] = report.to_dict()
        return not drift, json.dumps(drift, sort_keys=True, default=str) if drift else "no drift"

    def checkpoint() -> tuple[bool, str]:
        assert signing_key_path is not None
        key = SigningKey.load(signing_key_path)
        signed = [one.checkpoint(key).seq for one in tenants()]
        return True, f"signed {len(signed)} chain heads with key {key.key_id}"

    jobs = [
        Job("expire-holds", timedelta(seconds=expire_every), expire, shared=False),
        Job("reconcile", timedelta(seconds=reconcile_every), reconcile),
    ]
    if signing_key_path is not None:
        jobs.append(Job("checkpoint", timedelta(seconds=checkpoint_every), checkpoint))
    return [job for job in jobs if job.interval > timedelta(0)]


class Worker:
    """Runs the relay while there is work, and each job when it is due."""

    def __init__(
        self,
        engine: Engine,
        relay: Relay,
        jobs: list[Job] | None = None,
        *,
        clock: Clock | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.engine = engine
        self.relay = relay
        self.jobs = jobs or []
        self.clock: Clock = clock or SystemClock()
        self.poll_interval = poll_interval
        self._local_due = {job.name: self.clock.now() for job in self.jobs if not job.shared}

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; a failed pass is logged and tried again.

        While the database does not answer, that is said once, in one line.
        """
        unavailable = False
        while not stop.is_set():
            try:
                busy = await self.tick()
            except StorageUnavailable as exc:
                if not unavailable:
                    log.warning("worker waits for the database: %s", exc.detail)
                unavailable = True
                busy = 0
            except Exception:
                log.exception("worker pass failed; trying again shortly")
                busy = 0
            else:
                if unavailable:
                    log.info("worker: the database answers again")
                unavailable = False
            if busy == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    async def tick(self) -> int:
        """One pass: the relay's steps, then the jobs that are due; the work done."""
        done = await self.relay.run_once()
        for job in self.jobs:
            if await asyncio.to_thread(self._claim, job):
                await asyncio.to_thread(self._run, job)
        return done

    def _write(self) -> Any:
        return write_connection(self.engine)

    def _claim(self, job: Job) -> bool:
        now = self.clock.now()
        if not job.shared:
            if now < self._local_due[job.name]:
                return False
            self._local_due[job.name] = now + job.interval
            return True
        with self._write() as conn, conn.begin():
            return sql.claim_job(conn, job.name, now, now + job.interval)

    def _run(self, job: Job) -> None:
        try:
            ok, detail = job.run()
        except Exception as exc:
            log.exception("job %s failed", job.name)
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        JOB_RUNS.labels(job.name, "ok" if ok else "problem").inc()
        if not ok:
            log.error("job %s found a problem: %s", job.name, detail[:2000])
        elif job.name != "expire-holds" or not detail.startswith("expired 0 "):
            log.info("job %s: %s", job.name, detail)
        if job.shared:
            with self._write() as conn, conn.begin():
                sql.finish_job(conn, job.name, self.clock.now(), ok, detail)

    async def aclose(self) -> None:
        if self.relay.sender is not None:
            await self.relay.sender.aclose()
        if self.relay.publisher is not None:
            await self.relay.publisher.aclose()
