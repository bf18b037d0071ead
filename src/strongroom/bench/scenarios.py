"""The scenarios: what Strongroom is asked to do, and which baseline it stands beside.

=============  =========================================  ==========================
scenario       Strongroom                                 baseline (same database)
=============  =========================================  ==========================
single         1 caller, ``transfer`` per call            per-commit, 1 caller
single-alone   as single, without group commit            per-commit, 1 caller
concurrent     16 callers, ``transfer`` per call          per-commit, 8 callers
hot            as concurrent, one side is always ``hot``  per-commit, 8 callers, hot
batch          1 caller, ``batch`` of 1,000 per call      batched 100/commit, 1 caller
holds          1 caller, hold then post (half partial)    per-commit, 1 caller
http           N HTTP clients (see :mod:`.http`)          per-commit, 8 callers
http-batch     N HTTP clients, batches of 100             batched 100/commit, 1 caller
=============  =========================================  ==========================

Every Strongroom write carries an idempotency key, as a careful client's would
(a batch carries one for the whole batch). The callers of one scenario share
one ``Ledger``, so concurrent writes meet in its group committer. A scenario
only sets itself up and yields its rows as sides (a :class:`Trial`); the runner
adds the baselines and runs every side in turns (:func:`.measure.alternate`).
``single`` has two rows on one database, ``single`` and ``single-alone``, so
that what group commit costs a lone request is measured with the machine's
drift on both (with ``--no-group-commit``, ``single`` runs by itself). When the
turns are over, ``Ledger.verify`` checks the hash chain and every balance
against the journal (not timed): a benchmark that broke the books says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from strongroom.bench.baseline import (
    BATCHED_100,
    PER_COMMIT_1,
    PER_COMMIT_8,
    PER_COMMIT_8_HOT,
    Baseline,
)
from strongroom.bench.databases import Database
from strongroom.bench.measure import TURN_SECONDS, Budget, Measurement, Op, Side, Turns
from strongroom.bench.workload import CURRENCY, pairs, set_up_ledger
from strongroom.engine.ledger import Ledger
from strongroom.engine.requests import TransferRequest

TENANT = "bench"
CONCURRENT_CALLERS = 16
BATCH_SIZE = 1000
HOLD_AMOUNT = 100

Stage = Callable[[str], None]
"""Tells the progress display what is running now."""


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What every scenario of a run shares."""

    budget: Budget
    accounts: int = 1000
    clients: int = 64
    group_commit: bool = True
    verify: bool = True


@dataclass(slots=True)
class Trial:
    """A scenario set up and ready: its rows, each a side to run in turns, and what
    to do once the turns are over and before the scenario closes (``finish`` may add
    to the rows' measurements: the books verified, group commit counts)."""

    sides: list[tuple[str, Side]]
    finish: Callable[[dict[str, Measurement]], None] = lambda rows: None


Opener = Callable[[Database, RunSettings, Stage], AbstractContextManager[Trial]]
"""Sets a scenario up on a fresh database and yields its trial; closes it after."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named workload; ``open`` sets it up and yields its rows as sides.

    Each row stands beside ``baseline``, or beside its own in ``row_baselines``.
    Its sides and their baselines take turns of about ``turn_seconds``.
    """

    name: str
    summary: str
    baseline: Baseline
    open: Opener
    row_baselines: Mapping[str, Baseline] = field(default_factory=dict)
    turn_seconds: float = TURN_SECONDS

    def baseline_of(self, row: str) -> Baseline:
        return self.row_baselines.get(row, self.baseline)


MakeOp = Callable[[Ledger, RunSettings, int], Op]


def _on_ledger(label: str, callers: int, units_per_call: int, make_op: MakeOp) -> Opener:
    """A scenario of ``callers`` threads sharing one Ledger on the fresh database."""

    @contextmanager
    def open_trial(db: Database, settings: RunSettings, stage: Stage) -> Iterator[Trial]:
        stage("setting up")
        with Ledger.open(db.url, tenant=TENANT, group_commit=settings.group_commit) as ledger:
            set_up_ledger(ledger, settings.accounts)
            ops = [make_op(ledger, settings, worker) for worker in range(callers)]
            side = Turns("strongroom", ops, units_per_call)
            before = _committer_counts(ledger)

            def finish(rows: dict[str, Measurement]) -> None:
                measured = rows[label]
                measured.extra.update(_group_commit_stats(before, _committer_counts(ledger)))
                if settings.verify:
                    stage("verifying the books")
                    _verify(ledger, measured)

            yield Trial([(label, side)], finish)

    return open_trial


@contextmanager
def _single(db: Database, settings: RunSettings, stage: Stage) -> Iterator[Trial]:
    """Lone transfers through the group committer, and in turns with them the same
    through a ledger without one, on one database: what batching costs a lone request."""
    if not settings.group_commit:
        with _on_ledger("single", 1, 1, _transfers("uniform"))(db, settings, stage) as trial:
            yield trial
        return
    stage("setting up")
    make = _transfers("uniform")
    with (
        Ledger.open(db.url, tenant=TENANT) as grouped,
        Ledger.open(db.url, tenant=TENANT, group_commit=False) as alone,
    ):
        set_up_ledger(grouped, settings.accounts)
        sides: list[tuple[str, Side]] = [
            ("single", Turns("single", [make(grouped, settings, 0)])),
            ("single-alone", Turns("single-alone", [make(alone, settings, 1)])),
        ]
        before = _committer_counts(grouped)

        def finish(rows: dict[str, Measurement]) -> None:
            single, single_alone = rows["single"], rows["single-alone"]
            single.extra.update(_group_commit_stats(before, _committer_counts(grouped)))
            if settings.verify:
                stage("verifying the books")
                _verify(grouped, single)
                single_alone.extra.update(verified=single.extra["verified"])

        yield Trial(sides, finish)


def _committer_counts(ledger: Ledger) -> tuple[int, int] | None:
    committer = getattr(ledger, "_committer", None)
    batches = getattr(committer, "batches", None)
    requests = getattr(committer, "requests", None)
    if isinstance(batches, int) and isinstance(requests, int):
        return batches, requests
    return None


def _group_commit_stats(
    before: tuple[int, int] | None, after: tuple[int, int] | None
) -> dict[str, Any]:
    if before is None or after is None:
        return {}
    batches, requests = after[0] - before[0], after[1] - before[1]
    mean = round(requests / batches, 2) if batches else None
    return {"group_commits": batches, "group_requests": requests, "mean_group": mean}


def _verify(ledger: Ledger, measured: Measurement) -> None:
    began = time.perf_counter()
    report = ledger.verify()
    measured.extra["verified"] = report.ok
    measured.extra["verify_seconds"] = round(time.perf_counter() - began, 2)
    if not report.ok:
        measured.errors.append(f"verify failed after the run: {report.to_dict()}"[:500])


# -- operations ----------------------------------------------------------------------------


def _transfers(pattern: str) -> MakeOp:
    def make(ledger: Ledger, settings: RunSettings, worker: int) -> Op:
        pick = pairs(pattern, settings.accounts, worker)

        def op(i: int) -> None:
            source, destination = pick(i)
            ledger.transfer(source, destination, 1, CURRENCY, idempotency_key=f"t{worker}.{i}")

        return op

    return make


def _batches(ledger: Ledger, settings: RunSettings, worker: int) -> Op:
    pick = pairs("uniform", settings.accounts, worker)

    def op(i: int) -> None:
        requests = [
            TransferRequest(*pick(i * BATCH_SIZE + k), 1, CURRENCY) for k in range(BATCH_SIZE)
        ]
        results = ledger.batch(requests, idempotency_key=f"b{worker}.{i}")
        failed = next((r.error for r in results if r.error is not None), None)
        if failed is not None:
            raise failed

    return op


def _holds(ledger: Ledger, settings: RunSettings, worker: int) -> Op:
    pick = pairs("uniform", settings.accounts, worker)

    def op(i: int) -> None:
        source, destination = pick(i)
        hold = ledger.transfer(
            source,
            destination,
            HOLD_AMOUNT,
            CURRENCY,
            pending=True,
            timeout_seconds=3600,
            idempotency_key=f"h{worker}.{i}",
        )
        partial = HOLD_AMOUNT // 2 if i % 2 else None
        ledger.post_pending(hold.id, partial, idempotency_key=f"p{worker}.{i}")

    return op


@contextmanager
def _http(db: Database, settings: RunSettings, stage: Stage) -> Iterator[Trial]:
    from strongroom.bench.http import open_http

    with open_http(db, settings, stage) as trial:
        yield trial


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "single",
            "1 caller, one transfer per call",
            PER_COMMIT_1,
            _single,
        ),
        Scenario(
            "concurrent",
            f"{CONCURRENT_CALLERS} callers, one transfer per call",
            PER_COMMIT_8,
            _on_ledger("concurrent", CONCURRENT_CALLERS, 1, _transfers("uniform")),
        ),
        Scenario(
            "hot",
            f"{CONCURRENT_CALLERS} callers, every transfer touches one shared account",
            PER_COMMIT_8_HOT,
            _on_ledger("hot", CONCURRENT_CALLERS, 1, _transfers("hot")),
        ),
        Scenario(
            "batch",
            f"1 caller, {BATCH_SIZE:,} transfers per call",
            BATCHED_100,
            _on_ledger("batch", 1, BATCH_SIZE, _batches),
            turn_seconds=2.5,  # a call is a few tenths of a second
        ),
        Scenario(
            "holds",
            "1 caller, hold then post (half partial); a hold and a post count one write each",
            PER_COMMIT_1,
            _on_ledger("holds", 1, 2, _holds),
        ),
        Scenario(
            "http",
            "N HTTP clients against `strongroom serve`: single transfers, then batches",
            PER_COMMIT_8,
            _http,
            {"http-batch": BATCHED_100},
            # 64 clients queue: a request waits a tenth of a second for a transfer,
            # seconds for a batch; a turn needs many of them to reach its steady state.
            turn_seconds=5.0,
        ),
    ]
}
