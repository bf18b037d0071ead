"""Group commit: concurrent writes of a tenant share one database transaction.

Every write of a ledger operation goes through :meth:`GroupCommitter.submit`
(a caller's thread waits for it) or :meth:`GroupCommitter.start` (an event loop
awaits its future; the server's write routes). The first request of a tenant to
find no batch in flight becomes the *leader*: it runs at once, alone (a lone
request waits for nobody) — in the caller's thread for ``submit``, in one of the
committer's own threads for ``start``. Requests arriving while a batch is in
flight queue up; when the batch has committed, leadership passes to the oldest
queued request, whose thread (or, for a future, a committer thread) takes every
queued request (up to ``max_batch``) and runs them together in one unit of work:
the chain head and each account are locked once, each running sum written
once, and the journal, postings, keys and events inserted in bulk. A request
awaited through ``start`` parks no thread while it waits; the committer's
threads take the batches of awaited requests in turn, across tenants.

Callers that write in a loop come back together: a batch of N releases N
callers at once, and without more the first of them back would find nobody in
flight and run alone, while the other N-1 queue behind it (16 threads writing
in a loop ran batches of 1 and 16 in turn, every other transaction a lone one).
So a caller's request (``submit``) that finds its tenant idle *just after* a
batch of several ended (within half that batch's time) gathers: it waits until
the batch's other requests are queued again, or half that batch's time has
passed, and then leads them all. A request that comes after a lone batch, or
later, still leads at once; a gathering request waits at most half the time of
the batch before. Awaited requests (``start``) never gather: they come back
through the network, spread out, and under load they queue behind the batch in
flight anyway (32 requests at a time through the server's ASGI app made batches
of 21 on average, a median of 22).

Each request keeps its own result. Operations of the unit of work check
everything before they change anything, so a request that fails leaves the
shared state untouched and its neighbours commit. Nobody's result is released
before the batch's commit returned: durability is exactly that of a lone write.
If the database fails the whole batch in a way that cannot be retried, each of
its requests is run again alone, so one poisoned request cannot fail the others.
A future cancelled before its batch began is dropped unapplied; once its batch
began, it runs to the end and keeps its outcome.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram

from strongroom.domain.errors import StrongroomError
from strongroom.engine.uow import UnitOfWork

T = TypeVar("T")
DEFAULT_MAX_BATCH = 512
DEFAULT_LEADER_THREADS = 8
"""Committer threads that lead batches of awaited requests (tenants in parallel)."""

BATCH_SIZE = Histogram(
    "strongroom_group_commit_requests",
    "Requests per group commit (one database transaction)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BATCH_SECONDS = Histogram(
    "strongroom_group_commit_seconds",
    "Time a group commit took, to its commit (retries included)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)


@dataclass(eq=False)
class _Request(Generic[T]):
    work: Callable[[UnitOfWork], T]
    done: threading.Event | None = None
    """Set when a waiting thread may look again: its outcome is in, or it leads.

    Made when the request queues: a thread that leads at once never waits."""
    future: Future[T] | None = None
    """Settled with the outcome, for a request awaited through ``start``."""
    lead: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Lane:
    """The queue and the in-flight flag of one tenant, and what its last batch was."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: deque[_Request[Any]] = field(default_factory=deque)
    busy: bool = False
    last_size: int = 0
    """Requests in the last batch (0: none yet, or a gathering began since)."""
    last_end: float = 0.0
    """When the last batch's requests were released (``time.perf_counter``)."""
    last_took: float = 0.0
    """How long the last batch ran."""
    gathering: threading.Event | None = None
    """Set when ``want`` requests are queued, for a leader that gathers."""
    want: int = 0
    patience: float = 0.0
    """How long the gathering leader waits at most."""


class GroupCommitter:
    """Batches the single-operation writes of each tenant (see the module docstring).

    ``run_batch(tenant, works)`` must run every work in one unit of work of
    ``tenant`` and commit, returning a result or a StrongroomError per work.
    """

    def __init__(
        self,
        run_batch: Callable[[str, list[Callable[[UnitOfWork], Any]]], list[Any]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        leader_threads: int = DEFAULT_LEADER_THREADS,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.leader_threads = leader_threads
        self._lanes: dict[str, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.batches = 0
        """Batches run so far (with ``requests``, the mean batch size; for benchmarks)."""
        self.requests = 0
        self.lone = 0
        """Batches of one request (with ``batches``: how often nobody shared a commit)."""

    def _lane(self, tenant: str) -> _Lane:
        lane = self._lanes.get(tenant)
        if lane is None:
            with self._lanes_lock:
                lane = self._lanes.setdefault(tenant, _Lane())
        return lane

    def submit(self, tenant: str, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` in some committed unit of work of ``tenant``; return its result."""
        lane = self._lane(tenant)
        request: _Request[T] = _Request(work)
        if self._enqueue(lane, request):
            self._lead(tenant, lane, request)
        else:
            assert request.done is not None
            request.done.wait()
            if request.lead:  # handed leadership: run everything queued so far
                self._lead(tenant, lane, request)
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[no-any-return]

    def start(self, tenant: str, work: Callable[[UnitOfWork], T]) -> Future[T]:
        """Like :meth:`submit`, without waiting: the future of ``work``'s outcome.

        A committer thread, never the caller's, runs the batch.
        """
        lane = self._lane(tenant)
        future: Future[T] = Future()
        request: _Request[T] = _Request(work, future=future)
        if self._enqueue(lane, request) and not self._spawn(tenant, lane, request):
            self._lead(tenant, lane, request)  # no thread could be started: run it here
        return future

    def close(self) -> None:
        """Let the committer threads finish the batches they run, then stop them."""
        with self._lanes_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _spawn(self, tenant: str, lane: _Lane, leader: _Request[Any]) -> bool:
        """Have a committer thread lead ``leader``'s batch; ``False`` if none could start."""
        for _ in range(2):  # a pool closed meanwhile refuses: the second try makes a new one
            with self._lanes_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.leader_threads, thread_name_prefix="strongroom-commit"
                    )
                pool = self._pool
            try:
                pool.submit(self._lead, tenant, lane, leader)
            except RuntimeError:
                continue
            return True
        return False

    @staticmethod
    def _enqueue(lane: _Lane, request: _Request[Any]) -> bool:
        """Queue ``request`` behind a batch in flight; ``True`` if it leads.

        A caller's thread that queues gets the event it waits on. A leader that
        comes just after a batch of several ends gathers (see the module
        docstring): the lane's ``gathering`` is set when the requests it waits
        for are queued.
        """
        with lane.lock:
            if lane.busy:
                if request.future is None:
                    request.done = threading.Event()
                lane.queue.append(request)
                if lane.gathering is not None and len(lane.queue) >= lane.want:
                    lane.gathering.set()
                return False
            lane.busy = True
            if lane.last_size > 1 and request.future is None:
                patience = lane.last_took / 2
                if time.perf_counter() - lane.last_end < patience:
                    lane.gathering = threading.Event()
                    lane.want = lane.last_size - 1  # a batch is never over max_batch
                    lane.patience = patience
                lane.last_size = 0
            return True

    def _take(self, lane: _Lane, leader: _Request[Any]) -> list[_Request[Any]]:
        batch = [leader]
        with lane.lock:
            while lane.queue and len(batch) < self.max_batch:
                batch.append(lane.queue.popleft())
        return batch

    def _lead(self, tenant: str, lane: _Lane, leader: _Request[Any]) -> None:
        """Lead ``leader``'s batch, and the next ones while leadership stays here."""
        own = leader if leader.future is None else None  # a caller's: it reads its own outcome
        next_leader: _Request[Any] | None = leader
        while next_leader is not None:
            next_leader = self._lead_one(tenant, lane, next_leader, own)

    def _lead_one(
        self, tenant: str, lane: _Lane, leader: _Request[Any], own: _Request[Any] | None
    ) -> _Request[Any] | None:
        """Run ``leader``'s batch and pass leadership on: the next request this thread
        leads, if it must.

        A waiting thread leads its own batch. An awaited request's batch goes to
        the back of the committer threads' queue, behind other tenants' batches
        waiting there: a tenant that never stops writing holds no thread for
        good, and with more busy tenants than threads each still gets its turn.
        Only when no thread can be had does this one lead it.
        """
        batch: list[_Request[Any]] = []
        next_leader = None
        began = time.perf_counter()
        try:
            gathering = lane.gathering
            if gathering is not None:  # only the lane's leader reads or clears it
                gathering.wait(lane.patience)
                with lane.lock:
                    lane.gathering = None
            batch = [r for r in self._take(lane, leader) if _begins(r)]
            if batch:
                began = time.perf_counter()
                self._execute(tenant, batch)
        finally:
            with lane.lock:
                lane.last_size = len(batch)
                lane.last_end = time.perf_counter()
                lane.last_took = lane.last_end - began
            for request in batch:
                if request is not own:
                    _settle(request)
            with lane.lock:
                successor = lane.queue.popleft() if lane.queue else None
                if successor is None:
                    lane.busy = False
            if successor is not None:
                successor.lead = True
                if successor.done is not None:
                    successor.done.set()
                elif not self._spawn(tenant, lane, successor):
                    next_leader = successor
        return next_leader

    def _execute(self, tenant: str, batch: list[_Request[Any]]) -> None:
        self.batches += 1
        self.requests += len(batch)
        self.lone += len(batch) == 1
        BATCH_SIZE.observe(len(batch))
        began = time.perf_counter()  # not BATCH_SECONDS.time(): a timer object per batch
        try:
            outcomes = self._run_batch(tenant, [r.work for r in batch])
        except BaseException as exc:
            BATCH_SECONDS.observe(time.perf_counter() - began)
            if len(batch) == 1:
                batch[0].error = exc
                return
            # The batch failed as a whole: give each request its own chance.
            for request in batch:
                self._execute(tenant, [request])
            return
        BATCH_SECONDS.observe(time.perf_counter() - began)
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, StrongroomError):
                request.error = outcome
            else:
                request.result = outcome


def _begins(request: _Request[Any]) -> bool:
    """Whether ``request`` joins its batch: not an awaited request cancelled before."""
    return request.future is None or request.future.set_running_or_notify_cancel()


def _settle(request: _Request[Any]) -> None:
    if request.future is None:
        assert request.done is not None
        request.done.set()
    elif request.error is not None:
        request.future.set_exception(request.error)
    else:
        request.future.set_result(request.result)
