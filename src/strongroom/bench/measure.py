"""Budgets, measurements, the thread driver every benchmark runs on, and turns.

A measurement runs ``callers`` threads. Each thread opens its own session (a
connection, an HTTP client, or nothing), waits at a barrier with the others,
then calls its operation again and again until its share of the count is done
or the time is up; a call that raises stops every thread. Every loop is bounded
by a count, and in time mode by the clock as well, so a measurement always ends.

In time mode the rate is taken over the window, the budget's seconds from the
start: the calls still running when it closes count for the share of them that
fell inside it. Counted whole, with the time until the last of them ended, they
would make every measurement slower than its steady state by up to a call's
latency, the more so the shorter the window and the more callers share it.

A ratio compares two measurements, and this machine drifts: its speed moves by
tens of percent within minutes. So the sides of a comparison (Strongroom and its
baseline, or two ways of running Strongroom) take turns (:func:`alternate`):
each runs a share of the budget, then the next, in an order that changes every
turn (:func:`orders`), so that drift falls on every side alike and no side is
always first, or always after the same other. A side (:class:`Turns`) numbers
each worker's calls on from where its last turn stopped: no call number, and so
no idempotency key, comes twice.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strongroom.domain.errors import ValidationError

Op = Callable[[int], None]
"""One call of a worker: its argument is the call's number within that worker."""

Session = Callable[[int], AbstractContextManager[Op]]
"""Opens a worker's session (given the worker's number) and yields its operation."""

T = TypeVar("T")

MAX_CALLS_PER_WORKER = 10_000_000
"""A ceiling on the calls of one worker in time mode, far above any real rate."""
MAX_ERRORS_KEPT = 5
MAX_TURNS = 10
TURN_SECONDS = 1.0
"""The time a turn aims at, unless its scenario asks for longer turns (calls that
take a good part of a second want turns of many calls)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """How long each measurement runs: ``seconds`` of wall time, or ``count`` units."""

    seconds: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.count is None):
            raise ValidationError("give either a duration or a count", loc=("duration",))
        if self.seconds is not None and not 0 < self.seconds <= 24 * 3600:
            raise ValidationError("the duration is 0 to 86400 seconds", loc=("duration",))
        if self.count is not None and not 0 < self.count <= 100_000_000:
            raise ValidationError("the count is 1 to 100,000,000", loc=("n",))

    def calls(self, callers: int, worker: int, units_per_call: int) -> int:
        """The most calls ``worker`` may make: its share of the count, or the ceiling."""
        if self.count is None:
            return MAX_CALLS_PER_WORKER
        total = math.ceil(self.count / units_per_call)
        return total // callers + (1 if worker < total % callers else 0)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "count": self.count}


@dataclass(slots=True)
class Measurement:
    """What one measurement did: calls, units (transfers), time, latency per call."""

    label: str
    callers: int
    units_per_call: int
    calls: int = 0
    """Every call made; each has its latency."""
    seconds: float = 0.0
    """The window (time mode), or the wall time until the last call ended (count)."""
    counted: float | None = None
    """The calls the rate counts, in time mode: those that ended inside the window
    and, of each call that ended after it closed, the share that fell inside it."""
    cpu_seconds: float = 0.0
    """CPU time of this process (every thread) while the measurement ran."""
    latencies: list[float] = field(default_factory=list, repr=False)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> float:
        """The transfers (or writes) the rate counts."""
        return (self.calls if self.counted is None else self.counted) * self.units_per_call

    @property
    def rate(self) -> float:
        """Units (transfers, or hold and post writes) per second."""
        return self.units / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile of the call latencies, in milliseconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[rank] * 1000

    @classmethod
    def combined(cls, parts: list[Measurement]) -> Measurement:
        """One measurement of the turns ``parts`` (same label, callers and unit) ran in."""
        first = parts[0]
        whole = cls(first.label, first.callers, first.units_per_call)
        if any(part.counted is not None for part in parts):
            whole.counted = sum(
                part.calls if part.counted is None else part.counted for part in parts
            )
        for part in parts:
            whole.calls += part.calls
            whole.seconds += part.seconds
            whole.cpu_seconds += part.cpu_seconds
            whole.latencies.extend(part.latencies)
            whole.errors.extend(part.errors[: MAX_ERRORS_KEPT - len(whole.errors)])
            whole.extra.update(part.extra)
        return whole

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "label": self.label,
            "callers": self.callers,
            "units_per_call": self.units_per_call,
            "calls": self.calls,
            "units": round(self.units, 1),
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "rate": round(self.rate, 1),
            "p50_ms": rounded(self.percentile_ms(0.50)),
            "p99_ms": rounded(self.percentile_ms(0.99)),
            "p999_ms": rounded(self.percentile_ms(0.999)),
            "errors": list(self.errors),
            "extra": dict(self.extra),
        }


def drive(
    label: str,
    callers: int,
    budget: Budget,
    session: Session,
    *,
    units_per_call: int = 1,
) -> Measurement:
    """Run ``callers`` workers, each calling the operation its ``session`` yields."""
    result = Measurement(label, callers, units_per_call)
    stop = threading.Event()
    ready = threading.Barrier(callers + 1, timeout=120)
    per_worker: list[list[float]] = [[] for _ in range(callers)]
    # Per worker: the share of its last call inside the window, if it overran it.
    overran = [0.0] * callers
    lock = threading.Lock()

    def fail(exc: BaseException) -> None:
        stop.set()
        with lock:
            if len(result.errors) < MAX_ERRORS_KEPT:
                result.errors.append(f"{type(exc).__name__}: {exc}"[:500])

    def worker(number: int) -> None:
        latencies = per_worker[number]
        limit = budget.calls(callers, number, units_per_call)
        try:
            with session(number) as op:
                ready.wait()
                deadline = None if budget.seconds is None else time.perf_counter() + budget.seconds
                overran[number] = _loop(op, limit, deadline, stop, latencies)
        except threading.BrokenBarrierError:
            return  # another worker failed to open its session
        except BaseException as exc:  # reported with the measurement, never swallowed
            fail(exc)
            ready.abort()

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(callers)]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        ready.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu
    for latencies in per_worker:
        result.latencies.extend(latencies)
    result.calls = len(result.latencies)
    settle(result, budget, elapsed, overran)
    return result


def settle(result: Measurement, budget: Budget, elapsed: float, overran: list[float]) -> None:
    """Set the measurement's time, and in time mode the calls its rate counts.

    ``overran`` holds, per worker, the share of its last call inside the window
    if that call ended after the window closed, else 0. A measurement stopped
    early by an error keeps its elapsed time.
    """
    if budget.seconds is None or result.errors:
        result.seconds = elapsed
        return
    late = sum(1 for share in overran if share)
    result.seconds = budget.seconds
    result.counted = result.calls - late + sum(overran)


def _loop(
    op: Op, limit: int, deadline: float | None, stop: threading.Event, latencies: list[float]
) -> float:
    """Call ``op`` until done; returns :func:`inside` of the last call."""
    clock = time.perf_counter
    for i in range(limit):
        if stop.is_set():
            return 0.0
        began = clock()
        if deadline is not None and began >= deadline:
            return 0.0
        op(i)
        ended = clock()
        latencies.append(ended - began)
        if deadline is not None and ended > deadline:
            return inside(began, ended, deadline)
    return 0.0


def inside(began: float, ended: float, deadline: float) -> float:
    """The share of a call from ``began`` to ``ended`` before ``deadline`` (0 to 1),
    for a call that ended after it; ``ended > deadline`` is the caller's to check."""
    return min(1.0, max(0.0, (deadline - began) / (ended - began)))


# -- turns -----------------------------------------------------------------------------------


class Side(ABC):
    """One side of a comparison, measured in turns (see :func:`alternate`)."""

    def __init__(self, label: str, callers: int, units_per_call: int = 1) -> None:
        self.label = label
        self.callers = callers
        self.units_per_call = units_per_call
        self.turns: list[Measurement] = []

    @property
    def failed(self) -> bool:
        return any(turn.errors for turn in self.turns)

    def turn(self, budget: Budget) -> Measurement:
        """Run one turn of ``budget`` and keep its measurement."""
        measured = self._run(budget)
        self.turns.append(measured)
        return measured

    @abstractmethod
    def _run(self, budget: Budget) -> Measurement:
        """Drive every caller of the side for one turn of ``budget``."""

    def measurement(self) -> Measurement:
        """Every turn as one measurement; ``extra`` has the number of turns and the
        rate of each (how much the side moved within the run)."""
        if not self.turns:
            return Measurement(self.label, self.callers, self.units_per_call)
        whole = Measurement.combined(self.turns)
        whole.extra["turns"] = len(self.turns)
        whole.extra["turn_rates"] = [round(turn.rate, 1) for turn in self.turns]
        return whole


class Turns(Side):
    """A side whose workers are threads (:func:`drive`), one operation each.

    ``ops`` holds each worker's operation, made once for the whole run (its
    connection or client stays open across turns); worker ``w`` is called with
    0, 1, 2, ... across all its turns.
    """

    def __init__(self, label: str, ops: Sequence[Op], units_per_call: int = 1) -> None:
        super().__init__(label, len(ops), units_per_call)
        self._ops = [numbered(op) for op in ops]

    def _run(self, budget: Budget) -> Measurement:
        def session(worker: int) -> AbstractContextManager[Op]:
            return nullcontext(self._ops[worker])

        return drive(self.label, self.callers, budget, session, units_per_call=self.units_per_call)


def numbered(call: Callable[[int], T]) -> Callable[[int], T]:
    """``call`` given 0, 1, 2, ... whatever number its caller passes: a worker's
    numbering goes on across turns. A number is taken even if its call fails, so
    none is used twice."""
    numbers = itertools.count()
    return lambda _: call(next(numbers))


def turn_budgets(
    budget: Budget, sides: Sequence[Side], turn_seconds: float = TURN_SECONDS
) -> list[Budget]:
    """The budget of each turn: ``budget`` shared out over up to :data:`MAX_TURNS`.

    By time, turns of about ``turn_seconds``. By count, as many turns as leave
    every side at least one call per worker per turn (a count smaller than a
    side's callers times its units per call is one turn).
    """
    if budget.seconds is not None:
        turns = max(1, min(MAX_TURNS, round(budget.seconds / turn_seconds)))
        return [Budget(seconds=budget.seconds / turns)] * turns
    count = budget.count or 0
    turns = min(
        [MAX_TURNS, count] + [count // (side.callers * side.units_per_call) for side in sides]
    )
    turns = max(1, turns)
    shares = [count // turns + (1 if k < count % turns else 0) for k in range(turns)]
    return [Budget(count=share) for share in shares]


def orders(n: int) -> list[list[int]]:
    """The order of the ``n`` sides in each turn, cycled: a Williams design.

    Over a cycle every side runs once in every position and right after every
    other side once, so neither going first nor following a particular side (a
    baseline that just filled the disk's cache, say) favours one: AB BA for two
    sides; ABC CBA BCA ACB CAB BAC for three. (Reversing every other turn alone,
    ABC CBA, would put the middle side always right after another, never after
    itself.)
    """
    if n <= 1:
        return [list(range(n))]
    first, low, high = [0], 1, n - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    rows = [[(k + shift) % n for k in first] for shift in range(n)]
    if n % 2 == 0:
        return rows
    return [row for pair in zip(rows, (r[::-1] for r in rows), strict=True) for row in pair]


def alternate(
    sides: Sequence[Side],
    budget: Budget,
    stage: Callable[[str], None] | None = None,
    turn_seconds: float = TURN_SECONDS,
) -> None:
    """Run ``sides`` in turns sharing ``budget``, in the orders of :func:`orders`.

    Stops after the turn in which any side failed (its errors are in its turns).
    """
    budgets = turn_budgets(budget, sides, turn_seconds)
    cycle = orders(len(sides))
    for number, share in enumerate(budgets):
        for side in (sides[k] for k in cycle[number % len(cycle)]):
            if stage is not None:
                stage(f"{side.label}, turn {number + 1} of {len(budgets)}")
            side.turn(share)
        if any(side.failed for side in sides):
            return
