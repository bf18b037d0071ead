"""Sides of a comparison take turns: ABC, CBA, ...; no call number comes twice.

These run the real thread driver on operations that only record their calls.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from contextlib import nullcontext

import pytest

from strongroom.bench.measure import (
    Budget,
    Measurement,
    Op,
    Turns,
    alternate,
    drive,
    inside,
    orders,
    settle,
    turn_budgets,
)


class _Recorder:
    """Operations that note (side, worker, number) in the order calls happen."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def side(self, label: str, callers: int = 1, units_per_call: int = 1) -> Turns:
        def op_of(worker: int) -> Op:
            def op(number: int) -> None:
                with self._lock:
                    self.calls.append((label, worker, number))

            return op

        return Turns(label, [op_of(w) for w in range(callers)], units_per_call)


def test_sides_take_turns_in_a_balanced_order() -> None:
    """Each turn runs every side once, in the next order of the cycle."""
    record = _Recorder()
    sides = [record.side("a"), record.side("b"), record.side("c")]
    alternate(sides, Budget(count=7))  # seven turns of one call each
    runs = "".join(label for label, _, _ in record.calls)
    assert [runs[k : k + 3] for k in range(0, 21, 3)] == [
        "abc", "cba", "bca", "acb", "cab", "bac", "abc"
    ]  # fmt: skip
    assert all(len(side.turns) == 7 for side in sides)
    two = _Recorder()
    alternate([two.side("a"), two.side("b")], Budget(count=4))
    assert "".join(label for label, _, _ in two.calls) == "abbaabba"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_each_side_takes_each_place_and_follows_each_other_alike(n: int) -> None:
    """Over a cycle of orders, every side runs in every position equally often and
    right after every other side equally often (a Williams design)."""
    cycle = orders(n)
    for order in cycle:
        assert sorted(order) == list(range(n))
    places = Counter((position, side) for order in cycle for position, side in enumerate(order))
    assert set(places.values()) == {len(cycle) // n}
    assert len(places) == n * n
    follows = Counter(pair for order in cycle for pair in itertools.pairwise(order))
    if n > 1:
        assert len(follows) == n * (n - 1)
        assert len(set(follows.values())) == 1


def test_call_numbers_go_on_across_turns() -> None:
    """A worker's calls are numbered 0, 1, 2, ... over all its turns: no number twice,
    so no idempotency key made from it comes twice."""
    record = _Recorder()
    side = record.side("a", callers=3)
    other = record.side("b")
    alternate([side, other], Budget(count=30))
    assert len(side.turns) == 10
    for worker in range(3):
        numbers = [n for label, w, n in record.calls if label == "a" and w == worker]
        assert numbers == list(range(len(numbers)))
        assert len(numbers) == 10


def test_measurement_combines_the_turns() -> None:
    """A side's measurement is its turns together, and says how many there were."""
    record = _Recorder()
    side = record.side("a", callers=2)
    alternate([side], Budget(count=20))
    whole = side.measurement()
    assert whole.calls == 20 == sum(turn.calls for turn in side.turns)
    assert whole.seconds == pytest.approx(sum(turn.seconds for turn in side.turns))
    assert whole.extra["turns"] == len(side.turns) == 10
    assert whole.extra["turn_rates"] == [round(turn.rate, 1) for turn in side.turns]
    assert len(whole.latencies) == 20


def test_a_failed_turn_ends_the_turns() -> None:
    """A side whose call raises stops the alternation after that turn, error kept."""

    def broken(number: int) -> None:
        if number == 2:
            raise RuntimeError("no more")

    record = _Recorder()
    healthy = record.side("a")
    failing = Turns("b", [broken])
    alternate([healthy, failing], Budget(count=20))  # ten turns of two calls
    assert len(failing.turns) == 2  # calls 0 and 1, then 2 fails in the second turn
    assert failing.failed
    assert "RuntimeError: no more" in failing.measurement().errors[0]
    assert len(healthy.turns) == 2


@pytest.mark.parametrize(
    ("seconds", "turn", "turns"),
    [(0.1, 1.0, 1), (2, 1.0, 2), (10, 1.0, 10), (150, 1.0, 10), (10, 2.5, 4), (10, 5.0, 2)],
)
def test_timed_turns_last_about_the_turn_seconds(seconds: float, turn: float, turns: int) -> None:
    """By time, the budget is shared into turns of about ``turn`` seconds, at most ten."""
    budgets = turn_budgets(Budget(seconds=seconds), [], turn)
    assert len(budgets) == turns
    assert sum(b.seconds or 0 for b in budgets) == pytest.approx(seconds)


def test_counted_turns_leave_every_worker_a_call() -> None:
    """By count, no more turns than give each worker of each side one call a turn;
    the shares add up to the count."""

    def side(callers: int, units_per_call: int = 1) -> Turns:
        return Turns("side", [lambda _: None] * callers, units_per_call)

    one, many, batch = side(1), side(16), side(1, units_per_call=1000)
    assert [b.count for b in turn_budgets(Budget(count=4), [one])] == [1, 1, 1, 1]
    assert [b.count for b in turn_budgets(Budget(count=25), [one])] == [3] * 5 + [2] * 5
    assert [b.count for b in turn_budgets(Budget(count=40), [one, many])] == [20, 20]
    assert [b.count for b in turn_budgets(Budget(count=4), [one, many])] == [4]
    assert [b.count for b in turn_budgets(Budget(count=4), [batch])] == [4]


def test_a_timed_rate_counts_the_window_only() -> None:
    """In time mode the rate is over the window: of a call that ends after it closes,
    only the share inside counts. One caller of 0.1 s calls and one of 0.7 s calls,
    a 1 s window: 10 + (1 + 0.3 / 0.7) calls in 1 s, where counting the last calls
    whole until they ended would give 12 calls in 1.4 s."""
    assert inside(0.7, 1.4, 1.0) == pytest.approx(0.3 / 0.7)
    measured = Measurement("m", callers=2, units_per_call=1, calls=12)
    settle(measured, Budget(seconds=1.0), elapsed=1.4, overran=[0.0, 0.3 / 0.7])
    assert measured.seconds == 1.0
    assert measured.units == pytest.approx(11 + 0.3 / 0.7)
    assert measured.rate == pytest.approx(11.43, abs=0.01)


def test_a_counted_budget_counts_every_call_over_its_wall_time() -> None:
    """By count there is no window: every call, over the time until the last ended."""
    measured = Measurement("m", callers=2, units_per_call=10, calls=12)
    settle(measured, Budget(count=120), elapsed=1.4, overran=[0.0, 0.0])
    assert (measured.seconds, measured.units, measured.counted) == (1.4, 120, None)


def test_drive_by_time_reports_its_window() -> None:
    """A timed drive's seconds are the budget's; one caller's counted calls lie between
    its calls less the last and its calls."""
    measured = drive("m", 1, Budget(seconds=0.05), lambda _: nullcontext(lambda i: None))
    assert measured.seconds == 0.05
    assert measured.counted is not None
    assert measured.calls - 1 <= measured.counted <= measured.calls
    assert len(measured.latencies) == measured.calls
