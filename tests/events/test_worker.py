"""The worker process: SIGKILL in a burst, NATS after duplicate publishes, shared jobs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from strongroom import Ledger
from strongroom.domain.clock import SystemClock
from strongroom.engine.requests import TransferRequest
from strongroom.events.addresses import AddressPolicy
from strongroom.events.endpoints import Webhooks
from strongroom.events.relay import Relay
from strongroom.events.worker import Job, Worker
from strongroom.store import webhooks as sql
from strongroom.testing import FakeClock
from tests.events.nats_support import NATS_URL, Space, consume, stream_messages
from tests.events.receiver import Receiver

BURST = 2_000


def worker_process(db_url: str, space: Space) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STRONGROOM_NATS_URL": NATS_URL,
        "STRONGROOM_NATS_STREAM": space.stream,
        "STRONGROOM_NATS_SUBJECT_PREFIX": space.prefix,
        "STRONGROOM_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "STRONGROOM_RELAY_LEASE_SECONDS": "2",
        "STRONGROOM_POLL_INTERVAL_SECONDS": "0.05",
        "STRONGROOM_EXPIRY_INTERVAL_SECONDS": "0",
        "STRONGROOM_RECONCILE_INTERVAL_SECONDS": "0",
    }
    command = [sys.executable, "-m", "strongroom.cli", "worker", "--database-url", db_url]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def live(open_ledger: Callable[..., Ledger]) -> Ledger:
    return open_ledger(clock=SystemClock())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def make_burst(ledger: Ledger) -> None:
    """2,000 events: two accounts, then 1,998 transfers in batches of 333."""
    ledger.create_account("house", currency="USD", overdraft_limit=None)
    ledger.create_account("user", currency="USD")
    for _ in range(6):
        ledger.batch([TransferRequest("house", "user", 1, "USD") for _ in range(333)])


@pytest.mark.slow
def test_a_worker_killed_in_a_burst_loses_no_event(
    live: Ledger,
    db_url: str,
    engine: Engine,
    space: Space,
    receivers: Callable[..., Receiver],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """SIGKILL mid-burst, restart: every event reaches the receiver and NATS, each id once."""
    receiver = receivers()
    Webhooks(engine, AddressPolicy.parse("127.0.0.1")).create(live.tenant, receiver.url, ["*"])
    processes.append(worker_process(db_url, space))
    burst = threading.Thread(target=make_burst, args=(live,))
    burst.start()
    wait_until(lambda: len(receiver.received()) >= 300, 60, "the first deliveries")
    processes[0].send_signal(signal.SIGKILL)
    assert processes[0].wait(timeout=10) == -signal.SIGKILL
    burst.join(timeout=120)
    expected = {str(e.id) for e in live.list_events(limit=1000).data}
    page = live.list_events(limit=1000)
    while page.next_cursor:
        page = live.list_events(after=page.next_cursor, limit=1000)
        expected |= {e.id for e in page.data}
    assert len(expected) == BURST

    processes.append(worker_process(db_url, space))
    wait_until(lambda: set(receiver.ids()) >= expected, 120, "every event at the receiver")
    assert set(receiver.ids()) == expected  # deduped by webhook-id: each exactly once
    assert len(receiver.ids()) >= BURST  # at least once; a few may have come twice
    wait_until(
        lambda: asyncio.run(stream_messages(space)) >= BURST, 120, "every event in the stream"
    )
    messages = asyncio.run(consume(space, BURST))
    published = [m.headers["Nats-Msg-Id"] for m in messages if m.headers]
    assert sorted(published) == sorted(expected)  # JetStream dropped every duplicate
    processes[1].send_signal(signal.SIGTERM)
    assert processes[1].wait(timeout=30) == 0


def test_duplicate_publishes_reach_a_consumer_once(
    ledger: Ledger, engine: Engine, clock: FakeClock, space: Space
) -> None:
    """Publishing every event twice (a cursor moved back, as after a crash) stores each once."""
    from strongroom.events.nats import NatsPublisher

    ledger.create_account("a", currency="USD", overdraft_limit=None)
    ledger.create_account("b", currency="USD")
    ledger.transfer("a", "b", 5, "USD")

    async def publish_twice() -> None:
        for _ in range(2):
            publisher = NatsPublisher(NATS_URL, stream=space.stream, prefix=space.prefix)
            relay = Relay(engine, publisher=publisher, clock=clock)
            assert await relay.publish() == 3
            assert await relay.publish() == 0  # the cursor moved on
            await publisher.aclose()
            with engine.begin() as conn:
                sql.advance_cursor(conn, ledger.tenant, "nats", 0, clock.now(), owner=None)

    asyncio.run(publish_twice())
    messages = asyncio.run(consume(space, 3))
    ids = [m.headers["Nats-Msg-Id"] for m in messages if m.headers]
    assert sorted(ids) == sorted(e.id for e in ledger.list_events().data)
    subjects = {m.subject for m in messages}
    assert f"{space.prefix}.{ledger.tenant}.transaction.posted" in subjects


def test_an_unreachable_broker_holds_the_cursor_and_lets_webhooks_go_on(
    ledger: Ledger, engine: Engine, clock: FakeClock
) -> None:
    """With NATS down nothing is lost: the cursor stays, and the relay backs off."""
    from strongroom.events.nats import NatsPublisher

    ledger.create_account("a", currency="USD")
    publisher = NatsPublisher("nats://127.0.0.1:1", connect_timeout=0.5)
    relay = Relay(engine, publisher=publisher, clock=clock)
    assert asyncio.run(relay.publish()) == 0
    with engine.connect() as conn:
        assert sql.tenants_behind(conn, "nats") == [ledger.tenant]
    assert asyncio.run(relay.publish()) == 0  # paused: no new attempt before the backoff ends


def test_a_shared_job_runs_on_one_worker_per_interval(
    ledger: Ledger, engine: Engine, clock: FakeClock
) -> None:
    """Two workers due at once: the job runs once; its outcome is kept in scheduled_jobs."""
    runs: list[str] = []

    def job_of(name: str) -> Job:
        return Job("verify", timedelta(hours=1), lambda: (runs.append(name), (True, "ok"))[1])

    workers = [Worker(engine, Relay(engine, clock=clock), [job_of(n)], clock=clock) for n in "ab"]
    for worker in workers:
        asyncio.run(worker.tick())
    assert len(runs) == 1
    clock.advance(minutes=30)
    for worker in workers:
        asyncio.run(worker.tick())
    assert len(runs) == 1
    clock.advance(minutes=31)
    for worker in reversed(workers):
        asyncio.run(worker.tick())
    assert len(runs) == 2
    with engine.connect() as conn:
        (row,) = sql.list_jobs(conn)
    assert (row.name, row.last_ok, row.last_detail) == ("verify", 1, "ok")


def test_the_reconcile_job_reports_drift(ledger: Ledger, engine: Engine, clock: FakeClock) -> None:
    """A running sum changed behind the engine's back makes the reconcile job report it."""
    from strongroom.events.worker import integrity_jobs

    ledger.create_account("a", currency="USD", overdraft_limit=None)
    ledger.create_account("b", currency="USD")
    ledger.transfer("a", "b", 5, "USD")
    jobs = {j.name: j for j in integrity_jobs(ledger)}
    assert jobs["reconcile"].run() == (True, "no drift")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE accounts SET posted_credits = posted_credits + 1 WHERE id = 'b'"
        )
    ok, detail = jobs["reconcile"].run()
    assert not ok
    assert '"account": "b"' in detail
    assert '"account": "a"' not in detail


def test_the_jobs_command_shows_the_last_runs_and_fails_on_a_problem(
    ledger: Ledger, engine: Engine, clock: FakeClock, db_url: str
) -> None:
    """`strongroom jobs` lists each shared job's last outcome; exit 1 once one found a problem."""
    from typer.testing import CliRunner

    from strongroom.cli import app

    outcome = (True, "all verified")
    worker = Worker(
        engine,
        Relay(engine, clock=clock),
        [Job("verify", timedelta(hours=1), lambda: outcome)],
        clock=clock,
    )
    asyncio.run(worker.tick())
    shown = CliRunner().invoke(app, ["jobs", "--database-url", db_url, "--json"])
    assert shown.exit_code == 0, shown.output
    (job,) = json.loads(shown.output)["jobs"]
    assert (job["name"], job["last_ok"], job["last_detail"]) == ("verify", True, "all verified")
    outcome = (False, '{"t1": "drift"}')
    clock.advance(hours=2)
    asyncio.run(worker.tick())
    failed = CliRunner().invoke(app, ["jobs", "--database-url", db_url])
    assert failed.exit_code == 1
    assert "verify" in failed.output
