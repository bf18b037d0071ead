"""Group commit: concurrent writes share a transaction, each keeping its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from strongroom import InsufficientFunds, Ledger, StrongroomError, Transaction
from strongroom.engine.group import GroupCommitter, _Request
from strongroom.engine.uow import UnitOfWork


class Recorder:
    """A run_batch that records batch sizes and can hold the first batch open."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        self.sizes.append(len(works))
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        return [work(None) for work in works]  # type: ignore[arg-type]


Then = Callable[[GroupCommitter, int], Any]
"""What the caller of work ``i`` does once it has its result."""


def _submit_all(
    committer: GroupCommitter, works: list[Callable[[Any], Any]], then: Then | None = None
) -> tuple[list[Any], list[threading.Thread]]:
    """Submit each work from its own thread; the results list fills as they finish."""
    results: list[Any] = [None] * len(works)

    def run(i: int) -> None:
        try:
            results[i] = committer.submit("t", works[i])
        except StrongroomError as exc:
            results[i] = exc
        if then is not None:
            then(committer, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    return results, threads


def _queued_behind_a_held_batch(
    committer: GroupCommitter,
    recorder: Recorder,
    works: list[Callable[[Any], Any]],
    *,
    hold: float = 0,
    then: Then | None = None,
) -> list[Any]:
    """Hold a first request's batch open (``recorder``'s gate) for ``hold`` seconds at
    least, queue ``works`` behind it, then let everything run (each caller doing
    ``then`` once it has its result); the works' results."""
    first = threading.Thread(target=committer.submit, args=("t", lambda _: 0))
    first.start()
    assert recorder.entered.wait(10)
    time.sleep(hold)
    results, threads = _submit_all(committer, works, then)
    while sum(len(lane.queue) for lane in committer._lanes.values()) < len(works):
        time.sleep(0.001)
    recorder.gate.set()
    for thread in [first, *threads]:
        thread.join(10)
    return results


def test_lone_request_runs_at_once_alone() -> None:
    """With nothing in flight, a request is its own batch of one."""
    recorder = Recorder()
    recorder.gate.set()
    committer = GroupCommitter(recorder)
    assert committer.submit("t", lambda _: 7) == 7
    assert recorder.sizes == [1]


def test_requests_arriving_during_a_batch_share_the_next() -> None:
    """Requests queued behind a batch in flight all run in one following batch."""
    recorder = Recorder()
    committer = GroupCommitter(recorder)
    results = _queued_behind_a_held_batch(
        committer, recorder, [lambda _, i=i: i for i in range(1, 9)]
    )
    assert recorder.sizes == [1, 8]
    assert results == list(range(1, 9))


class SlowBatches(Recorder):
    """A Recorder whose batches of several take ``seconds``: callers released by one
    may gather for up to half of that."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        if len(works) > 1:
            time.sleep(self.seconds)
        return super().__call__(tenant, works)


def _after_a_slow_batch_of_8(recorder: SlowBatches, again: Then) -> list[Any]:
    """A held batch of one, then eight callers' requests in one batch of
    ``recorder.seconds``; as each caller gets its result it calls ``again``. What
    each call of ``again`` returned."""
    second: list[Any] = [None] * 8

    def then(committer: GroupCommitter, i: int) -> None:
        second[i] = again(committer, i)

    works: list[Callable[[Any], Any]] = [lambda _, i=i: i for i in range(8)]
    results = _queued_behind_a_held_batch(GroupCommitter(recorder), recorder, works, then=then)
    assert results == list(range(8))
    return second


def test_callers_released_together_come_back_in_one_batch() -> None:
    """Eight callers writing in a loop: the first of them back after their batch waits
    for the seven others rather than running alone (batches of 8, not 1 then 7)."""
    recorder = SlowBatches(0.6)  # the seven have 0.3 s to come back: ample
    second = _after_a_slow_batch_of_8(
        recorder, lambda committer, i: committer.submit("t", lambda _: 10 + i)
    )
    assert second == list(range(10, 18))
    assert recorder.sizes == [1, 8, 8]


def _timed(committer: GroupCommitter, value: int) -> float:
    began = time.perf_counter()
    assert committer.submit("t", lambda _: value) == value
    return time.perf_counter() - began


def test_a_gathering_request_waits_at_most_half_the_batch_before() -> None:
    """When only one of the eight comes back, it waits half the 1 s its batch took
    for the others, then runs alone."""
    recorder = SlowBatches(1.0)
    second = _after_a_slow_batch_of_8(
        recorder, lambda committer, i: _timed(committer, 10) if i == 0 else None
    )
    assert 0.49 <= second[0] < 1.0
    assert recorder.sizes == [1, 8, 1]


def test_a_request_well_after_a_batch_leads_at_once() -> None:
    """Past half the time of the batch before, nobody is expected back: no wait."""
    recorder = SlowBatches(0.4)

    def later(committer: GroupCommitter, i: int) -> float | None:
        if i:
            return None
        time.sleep(0.3)
        return _timed(committer, 10)

    second = _after_a_slow_batch_of_8(recorder, later)
    assert second[0] < 0.15  # a gathering request would have waited 0.2 s
    assert recorder.sizes == [1, 8, 1]


def test_errors_stay_with_their_request() -> None:
    """A request's StrongroomError is raised to its caller only."""

    def fail(_: Any) -> Any:
        return InsufficientFunds("no")

    def run_batch(tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        return [work(None) for work in works]  # type: ignore[arg-type]

    committer = GroupCommitter(run_batch)
    with pytest.raises(InsufficientFunds):
        committer.submit("t", fail)
    assert committer.submit("t", lambda _: "fine") == "fine"


def test_a_failed_batch_is_retried_one_by_one() -> None:
    """When the database fails a whole batch, each request runs again alone."""
    recorder = Recorder()
    sizes: list[int] = []

    def run_batch(tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        sizes.append(len(works))
        if len(sizes) == 1:
            recorder.entered.set()
            assert recorder.gate.wait(10)
        if len(works) > 1:
            raise RuntimeError("the batch failed as a whole")
        return [work(None) for work in works]  # type: ignore[arg-type]

    committer = GroupCommitter(run_batch)
    results = _queued_behind_a_held_batch(
        committer, recorder, [lambda _, i=i: i for i in range(1, 5)]
    )
    assert sizes == [1, 4, 1, 1, 1, 1]
    assert results == [1, 2, 3, 4]


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_each_group_commit_is_measured() -> None:
    """strongroom_group_commit_requests counts each batch and its requests, and
    strongroom_group_commit_seconds times it, a failed batch and its retries included."""
    names = [
        "strongroom_group_commit_requests_count",
        "strongroom_group_commit_requests_sum",
        "strongroom_group_commit_seconds_count",
    ]
    within_10ms = ("strongroom_group_commit_seconds_bucket", {"le": "0.01"})
    before = [_metric(name) for name in names]
    fast_before = REGISTRY.get_sample_value(*within_10ms) or 0.0
    recorder = Recorder()
    committer = GroupCommitter(recorder)
    works: list[Callable[[Any], Any]] = [lambda _, i=i: i for i in range(1, 6)]
    _queued_behind_a_held_batch(committer, recorder, works, hold=0.02)
    assert recorder.sizes == [1, 5]
    batches, requests, timed = (_metric(n) - b for n, b in zip(names, before, strict=True))
    assert (batches, requests, timed) == (2, 6, 2)
    fast = (REGISTRY.get_sample_value(*within_10ms) or 0.0) - fast_before
    assert fast <= 1  # the held batch took over 10 ms: it is not in that bucket

    def failing(tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        if len(works) > 1:
            raise RuntimeError("the batch failed as a whole")
        return [work(None) for work in works]  # type: ignore[arg-type]

    before = [_metric(name) for name in names]
    committer._run_batch = failing
    committer._execute("t", [_Request(lambda _: 1), _Request(lambda _: 2)])
    batches, requests, timed = (_metric(n) - b for n, b in zip(names, before, strict=True))
    assert (batches, requests, timed) == (3, 4, 3)  # the batch of 2, then each alone


def test_one_failing_request_does_not_fail_its_batch(ledger: Ledger) -> None:
    """In one shared unit of work, a rejected transfer leaves its neighbours committed."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    ledger.create_account("v", currency="USD")
    ledger.transfer("@world", "u", 100, "USD")
    outcomes = ledger._run_batch(
        ledger.tenant,
        [
            lambda uow: uow.transfer("u", "v", 60, "USD"),
            lambda uow: uow.transfer("u", "v", 60, "USD"),  # only 40 left
            lambda uow: uow.transfer("u", "v", 40, "USD", idempotency_key="k"),
            lambda uow: uow.transfer("u", "v", 40, "USD", idempotency_key="k"),  # replay
        ],
    )
    assert isinstance(outcomes[0], Transaction)
    assert isinstance(outcomes[1], InsufficientFunds)
    assert outcomes[3].id == outcomes[2].id
    assert outcomes[3].replayed
    assert ledger.get_account("v").balance.posted == 100
    assert ledger.verify().ok


def test_hot_account_under_concurrency(ledger: Ledger) -> None:
    """16 threads paying one fee account: every transfer lands once and the books verify."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("fees", currency="USD")
    for i in range(16):
        ledger.create_account(f"u{i}", currency="USD")
        ledger.transfer("@world", f"u{i}", 1000, "USD")
    errors: list[BaseException] = []

    def pay(i: int) -> None:
        try:
            for n in range(15):
                ledger.transfer(f"u{i}", "fees", 1, "USD", idempotency_key=f"fee-{i}-{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert ledger.get_account("fees").balance.posted == 16 * 15
    assert ledger.verify().ok


MALFORMED: dict[str, tuple[Callable[[Ledger], Any], str]] = {
    "same accounts": (lambda lg: lg.transfer("cash", "cash", 5, "USD"), "VALIDATION_ERROR"),
    "negative": (lambda lg: lg.transfer("cash", "user:1", -5, "USD"), "VALIDATION_ERROR"),
    "empty key": (
        lambda lg: lg.transfer("cash", "user:1", 5, "USD", idempotency_key=""),
        "VALIDATION_ERROR",
    ),
    "unbalanced": (
        lambda lg: lg.post(
            [
                {"account": "cash", "side": "debit", "amount": 5},
                {"account": "user:1", "side": "credit", "amount": 4},
            ],
            currency="USD",
        ),
        "UNBALANCED_TRANSACTION",
    ),
}


@pytest.mark.parametrize(("call", "code"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_writes_are_refused_before_they_join_a_group(
    ledger: Ledger, call: Callable[[Ledger], Any], code: str
) -> None:
    """Input is checked in the caller's thread: a malformed transfer or post costs no
    database transaction and never reaches a group's leader."""
    ledger.create_account("cash", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    before = (ledger._committer.batches, ledger.head())
    with pytest.raises(StrongroomError) as refused:
        call(ledger)
    assert refused.value.code == code
    assert (ledger._committer.batches, ledger.head()) == before
