"""Group commit: concurrent writes of a tenant share one database transaction.

Every write of a ledger operation goes through :meth:`GroupCommitter.submit`.
The first caller of a tenant to find no batch in flight becomes the *leader*:
it runs its own request at once, alone (a lone request waits for nobody).
Callers arriving while a batch is in flight queue up; when the leader's batch
has committed it hands leadership to the oldest queued caller, which takes
every queued request (up to ``max_batch``) and runs them together in one unit
of work: the chain head and each account are locked once, each running sum
written once, and the journal, postings, keys and events inserted in bulk.

Each request keeps its own result. Operations of the unit of work check
everything before they change anything, so a request that fails leaves the
shared state untouched and its neighbours commit. Nobody's result is released
before the batch's commit returned: durability is exactly that of a lone write.
If the database fails the whole batch in a way that cannot be retried, each of
its requests is run again alone, so one poisoned request cannot fail the others.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from strongroom.domain.errors import StrongroomError
from strongroom.engine.uow import UnitOfWork

T = TypeVar("T")
DEFAULT_MAX_BATCH = 512


@dataclass(eq=False)
class _Request(Generic[T]):
    work: Callable[[UnitOfWork], T]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Lane:
    """The queue and the in-flight flag of one tenant."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: deque[_Request[Any]] = field(default_factory=deque)
    busy: bool = False


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
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._lanes: dict[str, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self.batches = 0
        """Batches run so far (with ``requests``, the mean batch size; for benchmarks)."""
        self.requests = 0

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
        with lane.lock:
            if lane.busy:
                lane.queue.append(request)
                lead = False
            else:
                lane.busy = True
                lead = True
        if lead:
            self._lead(tenant, lane, [request])
        else:
            request.done.wait()
            if request.lead:  # handed leadership: run everything queued so far
                self._lead(tenant, lane, self._take(lane, request))
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[no-any-return]

    def _take(self, lane: _Lane, leader: _Request[Any]) -> list[_Request[Any]]:
        batch = [leader]
        with lane.lock:
            while lane.queue and len(batch) < self.max_batch:
                batch.append(lane.queue.popleft())
        return batch

    def _lead(self, tenant: str, lane: _Lane, batch: list[_Request[Any]]) -> None:
        try:
            self._execute(tenant, batch)
        finally:
            for request in batch:
                if request is not batch[0]:
                    request.done.set()
            with lane.lock:
                if lane.queue:
                    successor = lane.queue.popleft()
                    successor.lead = True
                    successor.done.set()
                else:
                    lane.busy = False

    def _execute(self, tenant: str, batch: list[_Request[Any]]) -> None:
        self.batches += 1
        self.requests += len(batch)
        try:
            outcomes = self._run_batch(tenant, [r.work for r in batch])
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # The batch failed as a whole: give each request its own chance.
            for request in batch:
                self._execute(tenant, [request])
            return
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, StrongroomError):
                request.error = outcome
            else:
                request.result = outcome
