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
(a batch carries one for the whole batch). The callers of one row share one
``Ledger``, so concurrent writes meet in its group committer. A trial only sets
itself up and yields its rows as sides (a :class:`Trial`); the runner adds the
baselines and runs every side in turns (:func:`.measure.alternate`). ``single``
has two rows, ``single`` and ``single-alone``, so that what group commit costs a
lone request is measured with the machine's drift on both (with
``--no-group-commit``, ``single`` runs by itself). ``single``, ``concurrent`` and
``hot``, when run together, are one trial on one database (:func:`trials`): the
targets set on their ratios to each other are then measured in turns as well.
When the turns are over, ``Ledger.verify`` checks the hash chain and every
balance against the journal (not timed): a benchmark that broke the books says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
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
    """Scenarios set up and ready (one, or those that share a trial): their rows, each
    a side to run in turns, and what to do once the turns are over and before the
    trial closes (``finish`` may add to the rows' measurements: the books verified,
    group commit counts)."""

    sides: list[tuple[str, Side]]
    finish: Callable[[dict[str, Measurement]], None] = lambda rows: None


Opener = Callable[[Database, RunSettings, Stage], AbstractContextManager[Trial]]
"""Sets a scenario up on a fresh database and yields its trial; closes it after."""

MakeOp = Callable[[Ledger, RunSettings, int], Op]
"""Makes worker ``w``'s operation on a ledger."""


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """A row measured through the library: its side, and the ``Ledger`` it writes through
    (whose group committer's counts the row reports)."""

    name: str
    side: Side
    ledger: Ledger


LedgerRows = Callable[[Database, RunSettings, ExitStack], list[LedgerRow]]
"""Opens a scenario's rows on a database :func:`open_trial` has set up; each row's
ledger goes on the stack, which closes it when the trial ends."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named workload, reporting ``rows``; each row stands beside ``baseline``, or
    beside its own in ``row_baselines``. Its sides and their baselines take turns of
    about ``turn_seconds``.

    A scenario through the library gives ``on_ledger``: its rows, opened on the
    books :func:`open_trial` sets up. Scenarios that ``share_trial`` and are run
    together (``single``, ``concurrent`` and ``hot``) share one such trial: one
    database, every row and baseline in turns with every other, so that the ratios
    between them (concurrent / single, hot / concurrent) are taken on one stretch
    of the machine's time as well. Any other scenario brings its own ``opener``.
    """

    name: str
    summary: str
    baseline: Baseline
    rows: tuple[str, ...] = ()
    on_ledger: LedgerRows | None = None
    opener: Opener | None = None
    row_baselines: Mapping[str, Baseline] = field(default_factory=dict)
    turn_seconds: float = TURN_SECONDS
    share_trial: bool = False

    def __post_init__(self) -> None:
        if not self.rows:
            object.__setattr__(self, "rows", (self.name,))
        if (self.on_ledger is None) == (self.opener is None):
            raise ValueError(f"scenario {self.name!r}: give on_ledger or opener")

    def baseline_of(self, row: str) -> Baseline:
        return self.row_baselines.get(row, self.baseline)


def trials(names: Sequence[str]) -> list[tuple[Scenario, ...]]:
    """The trials that run ``names``, in order: the scenarios that share a trial
    (when more than one of them is chosen) as one, where the first of them stood."""
    chosen = [SCENARIOS[name] for name in names]
    sharing = tuple(s for s in chosen if s.share_trial)
    out: list[tuple[Scenario, ...]] = []
    for scenario in chosen:
        if scenario.share_trial and len(sharing) > 1:
            if sharing not in out:
                out.append(sharing)
        else:
            out.append((scenario,))
    return out


@contextmanager
def open_trial(
    scenarios: Sequence[Scenario], db: Database, settings: RunSettings, stage: Stage
) -> Iterator[Trial]:
    """Set ``scenarios`` up on the fresh database ``db``; yield their rows as one trial.

    Through the library: the books are set up once (the accounts, funded), then
    each scenario opens its rows, each row writing through a ``Ledger`` of its own
    with its own idempotency keys. When the turns are over, ``Ledger.verify`` checks
    the hash chain and every balance against the journal (not timed), for every row.
    """
    if len(scenarios) == 1 and scenarios[0].opener is not None:
        with scenarios[0].opener(db, settings, stage) as trial:
            yield trial
        return
    stage("setting up")
    with ExitStack() as stack:
        books = stack.enter_context(Ledger.open(db.url, tenant=TENANT))
        set_up_ledger(books, settings.accounts)
        rows: list[LedgerRow] = []
        for scenario in scenarios:
            if scenario.on_ledger is None:
                raise ValueError(f"scenario {scenario.name!r} does not run through the library")
            rows += scenario.on_ledger(db, settings, stack)
        before = {row.name: _committer_counts(row.ledger) for row in rows}

        def finish(measured: dict[str, Measurement]) -> None:
            for row in rows:
                after = _committer_counts(row.ledger)
                measured[row.name].extra.update(_group_commit_stats(before[row.name], after))
            if settings.verify:
                stage("verifying the books")
                _verify(books, [measured[row.name] for row in rows])

        yield Trial([(row.name, row.side) for row in rows], finish)


def _ledger(db: Database, settings: RunSettings, stack: ExitStack, *, grouped: bool) -> Ledger:
    """A ledger of its own on the books :func:`open_trial` set up."""
    group_commit = settings.group_commit and grouped
    return stack.enter_context(
        Ledger.open(
            db.url, tenant=TENANT, migrate=False, create_tenant=False, group_commit=group_commit
        )
    )


def _single(db: Database, settings: RunSettings, stack: ExitStack) -> list[LedgerRow]:
    """Lone transfers through the group committer, and in turns with them the same
    through a ledger without one (``single-alone``): what batching costs a lone
    request. With ``--no-group-commit``, ``single`` runs by itself."""
    grouped = _ledger(db, settings, stack, grouped=True)
    transfers = _transfers("uniform", "s")
    rows = [LedgerRow("single", Turns("single", [transfers(grouped, settings, 0)]), grouped)]
    if settings.group_commit:
        alone = _ledger(db, settings, stack, grouped=False)
        side = Turns("single-alone", [transfers(alone, settings, 1)])
        rows.append(LedgerRow("single-alone", side, alone))
    return rows


def _callers(name: str, callers: int, units_per_call: int, make_op: MakeOp) -> LedgerRows:
    """A row of ``callers`` threads sharing one ``Ledger``: their writes meet in its
    group committer."""

    def rows(db: Database, settings: RunSettings, stack: ExitStack) -> list[LedgerRow]:
        ledger = _ledger(db, settings, stack, grouped=True)
        ops = [make_op(ledger, settings, worker) for worker in range(callers)]
        return [LedgerRow(name, Turns("strongroom", ops, units_per_call), ledger)]

    return rows


def _committer_counts(ledger: Ledger) -> tuple[int, int, int] | None:
    """The group committer's batches, requests and batches of one so far."""
    if not ledger.group_commit:
        return None
    committer = getattr(ledger, "_committer", None)
    batches, requests, lone = (getattr(committer, n, None) for n in ("batches", "requests", "lone"))
    if isinstance(batches, int) and isinstance(requests, int) and isinstance(lone, int):
        return batches, requests, lone
    return None


def _group_commit_stats(
    before: tuple[int, int, int] | None, after: tuple[int, int, int] | None
) -> dict[str, Any]:
    """How a row's writes shared commits: the mean batch, and how many batches were
    of one request (a mean of 8.5 was once batches of 1 and 16 in turn)."""
    if before is None or after is None:
        return {}
    batches, requests, lone = (a - b for a, b in zip(after, before, strict=True))
    mean = round(requests / batches, 2) if batches else None
    return {
        "group_commits": batches,
        "group_requests": requests,
        "mean_group": mean,
        "lone_groups": lone,
    }


def _verify(ledger: Ledger, rows: list[Measurement]) -> None:
    began = time.perf_counter()
    report = ledger.verify()
    seconds = round(time.perf_counter() - began, 2)
    for measured in rows:
        measured.extra["verified"] = report.ok
        measured.extra["verify_seconds"] = seconds
        if not report.ok:
            measured.errors.append(f"verify failed after the run: {report.to_dict()}"[:500])


# -- operations ----------------------------------------------------------------------------


def _transfers(pattern: str, prefix: str) -> MakeOp:
    """Lone transfers between ``pattern``'s pairs; each row's keys begin with its own
    ``prefix`` (the rows of a shared trial write to one tenant)."""

    def make(ledger: Ledger, settings: RunSettings, worker: int) -> Op:
        pick = pairs(pattern, settings.accounts, worker)

        def op(i: int) -> None:
            source, destination = pick(i)
            key = f"{prefix}{worker}.{i}"
            ledger.transfer(source, destination, 1, CURRENCY, idempotency_key=key)

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
            rows=("single", "single-alone"),
            on_ledger=_single,
            share_trial=True,
        ),
        Scenario(
            "concurrent",
            f"{CONCURRENT_CALLERS} callers, one transfer per call",
            PER_COMMIT_8,
            on_ledger=_callers("concurrent", CONCURRENT_CALLERS, 1, _transfers("uniform", "c")),
            share_trial=True,
        ),
        Scenario(
            "hot",
            f"{CONCURRENT_CALLERS} callers, every transfer touches one shared account",
            PER_COMMIT_8_HOT,
            on_ledger=_callers("hot", CONCURRENT_CALLERS, 1, _transfers("hot", "h")),
            share_trial=True,
        ),
        Scenario(
            "batch",
            f"1 caller, {BATCH_SIZE:,} transfers per call",
            BATCHED_100,
            on_ledger=_callers("batch", 1, BATCH_SIZE, _batches),
            turn_seconds=2.5,  # a call is a few tenths of a second
        ),
        Scenario(
            "holds",
            "1 caller, hold then post (half partial); a hold and a post count one write each",
            PER_COMMIT_1,
            on_ledger=_callers("holds", 1, 2, _holds),
        ),
        Scenario(
            "http",
            "N HTTP clients against `strongroom serve`: single transfers, then batches",
            PER_COMMIT_8,
            rows=("http", "http-batch"),
            opener=_http,
            row_baselines={"http-batch": BATCHED_100},
            # 64 clients queue: a request waits a tenth of a second for a transfer,
            # seconds for a batch; a turn needs many of them to reach its steady state.
            turn_seconds=5.0,
        ),
    ]
}


def baseline_of(row: str) -> Baseline:
    """The baseline a row stands beside, whichever scenario reports it."""
    return next(s.baseline_of(row) for s in SCENARIOS.values() if row in s.rows)
