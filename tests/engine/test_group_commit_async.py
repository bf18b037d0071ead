"""Group commit for an event loop: awaited writes park no thread and share batches
with waiting threads, each keeping its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from strongroom import InsufficientFunds, Ledger, Line, StrongroomError, Transaction
from strongroom.engine.group import GroupCommitter
from strongroom.engine.uow import UnitOfWork


class Recorder:
    """A run_batch that records each batch (size and thread) and can hold the first open."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: list[str] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        self.sizes.append(len(works))
        self.threads.append(threading.current_thread().name)
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        return [work(None) for work in works]  # type: ignore[arg-type]


def _queued(committer: GroupCommitter) -> int:
    return sum(len(lane.queue) for lane in committer._lanes.values())


def _wait_queued(committer: GroupCommitter, count: int) -> None:
    deadline = time.monotonic() + 10
    while _queued(committer) < count:
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.001)


def _held_open(first: Callable[[Any], Any]) -> tuple[Recorder, GroupCommitter, Future[Any]]:
    """A committer running its first batch, ``first`` alone, held open by the recorder."""
    recorder = Recorder()
    committer = GroupCommitter(recorder)
    future = committer.start("t", first)
    assert recorder.entered.wait(10)
    return recorder, committer, future


def test_a_started_request_runs_in_a_committer_thread() -> None:
    """``start`` returns at once; a committer thread runs the batch and settles the future."""
    recorder, committer, future = _held_open(lambda _: 7)
    assert not future.done()  # the batch is held open: the caller was not blocked
    recorder.gate.set()
    assert future.result(10) == 7
    assert recorder.threads[0].startswith("strongroom-commit")
    assert recorder.threads[0] != threading.current_thread().name
    committer.close()


def test_started_and_submitted_requests_share_batches() -> None:
    """Futures and waiting threads queued behind a batch run together in the next one,
    and leadership passes between them either way."""
    recorder, committer, first = _held_open(lambda _: 0)
    futures = [committer.start("t", lambda _, i=i: i) for i in range(1, 4)]
    results: dict[int, Any] = {}

    def wait(i: int) -> None:
        results[i] = committer.submit("t", lambda _: i)

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(4, 7)]
    for thread in threads:
        thread.start()
    _wait_queued(committer, 6)
    recorder.gate.set()
    assert [f.result(10) for f in [first, *futures]] == [0, 1, 2, 3]
    for thread in threads:
        thread.join(10)
    assert results == {4: 4, 5: 5, 6: 6}
    assert recorder.sizes == [1, 6]
    # Then a waiting thread leads, and hands leadership to a future queued behind it.
    gate = threading.Event()
    entered = threading.Event()

    def held(_: Any) -> str:
        entered.set()
        assert gate.wait(10)
        return "held"

    leader = threading.Thread(target=lambda: results.update(held=committer.submit("t", held)))
    leader.start()
    assert entered.wait(10)
    after = committer.start("t", lambda _: "after")
    _wait_queued(committer, 1)
    gate.set()
    leader.join(10)
    assert results["held"] == "held"
    assert after.result(10) == "after"
    assert recorder.threads[-1].startswith("strongroom-commit")
    committer.close()


def test_awaited_requests_never_gather() -> None:
    """A future started just after a batch of several ended runs at once: awaited
    requests come back through the network, spread out, so none waits for others
    (as a waiting thread's request does, see test_group_commit)."""
    recorder = Recorder()
    slow = 0.4

    def run_batch(tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        if len(works) > 1:
            time.sleep(slow)
        return recorder(tenant, works)

    committer = GroupCommitter(run_batch)
    first = committer.start("t", lambda _: 0)
    assert recorder.entered.wait(10)
    futures = [committer.start("t", lambda _, i=i: i) for i in range(1, 4)]
    _wait_queued(committer, 3)
    recorder.gate.set()
    assert [f.result(10) for f in [first, *futures]] == [0, 1, 2, 3]
    began = time.perf_counter()
    assert committer.start("t", lambda _: 4).result(10) == 4
    assert time.perf_counter() - began < slow / 4  # gathering would wait slow / 2
    assert recorder.sizes == [1, 3, 1]
    committer.close()


def test_errors_stay_with_their_future() -> None:
    """A request's StrongroomError settles its own future; its neighbours succeed."""
    recorder, committer, first = _held_open(lambda _: "first")
    failing = committer.start("t", lambda _: InsufficientFunds("no"))
    fine = committer.start("t", lambda _: "fine")
    _wait_queued(committer, 2)
    recorder.gate.set()
    with pytest.raises(InsufficientFunds):
        failing.result(10)
    assert (first.result(10), fine.result(10)) == ("first", "fine")
    assert recorder.sizes == [1, 2]
    committer.close()


def test_a_future_cancelled_before_its_batch_is_never_applied() -> None:
    """Cancelled while queued: dropped unapplied. Once its batch began, a future cannot
    be cancelled and keeps its outcome."""
    applied: list[str] = []
    recorder, committer, first = _held_open(lambda _: applied.append("first"))
    assert not first.cancel()  # its batch is running
    dropped = committer.start("t", lambda _: applied.append("dropped"))
    kept = committer.start("t", lambda _: applied.append("kept"))
    _wait_queued(committer, 2)
    assert dropped.cancel()
    recorder.gate.set()
    kept.result(10)
    first.result(10)
    assert dropped.cancelled()
    assert applied == ["first", "kept"]
    assert recorder.sizes == [1, 1]
    committer.close()


def test_a_tenant_that_never_stops_writing_does_not_starve_another() -> None:
    """With one committer thread, a lane that never empties still lets another
    tenant's batch through: each batch of awaited requests takes its turn."""
    stop = threading.Event()
    committer: GroupCommitter

    def run_batch(tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        if tenant == "busy" and not stop.is_set():
            committer.start("busy", lambda _: "more")  # its lane is never empty
        return [work(None) for work in works]  # type: ignore[arg-type]

    committer = GroupCommitter(run_batch, leader_threads=1)
    busy = committer.start("busy", lambda _: "first")
    quiet = committer.start("quiet", lambda _: "served")
    try:
        assert quiet.result(10) == "served"
        assert busy.result(10) == "first"
    finally:
        stop.set()
        while committer._lanes["busy"].busy:  # the last "more" runs, then the lane rests
            time.sleep(0.001)
        committer.close()


def test_close_lets_the_running_batch_finish() -> None:
    recorder, committer, future = _held_open(lambda _: "done")
    closer = threading.Thread(target=committer.close)
    closer.start()
    time.sleep(0.05)
    assert closer.is_alive()  # waiting for the batch in flight
    recorder.gate.set()
    closer.join(10)
    assert future.result(0) == "done"
    assert committer.start("t", lambda _: "again").result(10) == "again"  # a new pool
    committer.close()


def test_start_is_a_concurrent_future() -> None:
    committer = GroupCommitter(lambda tenant, works: [w(None) for w in works])  # type: ignore[arg-type]
    assert isinstance(committer.start("t", lambda _: 1), Future)
    committer.close()


# -- the ledger's awaited writes, on each backend ------------------------------------------


def test_awaited_transfers_and_posts(ledger: Ledger) -> None:
    """``transfer_async`` and ``post_async`` answer like their blocking twins: results,
    replays, refusals, and concurrent calls sharing group commits."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    for name in ("a", "b", "c"):
        ledger.create_account(name, currency="USD")

    async def scenario() -> tuple[Transaction, Transaction, Transaction, list[Any]]:
        funded = await ledger.transfer_async("@world", "a", 1000, "USD", idempotency_key="f")
        replay = await ledger.transfer_async("@world", "a", 1000, "USD", idempotency_key="f")
        posted = await ledger.post_async(
            [Line("a", "debit", 30), Line("b", "credit", 20), Line("c", "credit", 10)],
            currency="USD",
            idempotency_key="p",
        )
        many = await asyncio.gather(
            *[
                ledger.transfer_async("a", "b", 1, "USD", idempotency_key=f"t{i}")
                for i in range(40)
            ],
            ledger.transfer_async("b", "c", 10**9, "USD"),  # refused alone
            return_exceptions=True,
        )
        assert replay.id == funded.id
        assert replay.replayed
        return funded, replay, posted, many

    batches = ledger._committer.batches
    funded, _, posted, many = asyncio.run(scenario())
    assert funded.amount == 1000
    assert posted.amount == 30
    assert all(isinstance(t, Transaction) for t in many[:40])
    assert isinstance(many[40], InsufficientFunds)
    assert ledger._committer.batches - batches < 43  # some calls shared a commit
    assert ledger.get_account("a").balance.posted == 1000 - 30 - 40
    assert ledger.get_account("b").balance.posted == 20 + 40
    assert ledger.verify().ok
    with pytest.raises(StrongroomError) as refused:
        asyncio.run(ledger.transfer_async("a", "a", 1, "USD"))
    assert refused.value.code == "VALIDATION_ERROR"


def test_awaited_transfers_without_group_commit(open_ledger: Callable[..., Ledger]) -> None:
    ledger = open_ledger(group_commit=False)
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("a", currency="USD")
    tx = asyncio.run(ledger.transfer_async("@world", "a", 5, "USD"))
    assert ledger.get_transaction(tx.id).amount == 5
    assert ledger._committer.batches == 0
