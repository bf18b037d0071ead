"""Runs the chosen scenarios on the chosen backends, each beside its baseline.

Each trial (a scenario, or the scenarios that share one: see
:func:`.scenarios.trials`) gets a fresh database on each backend. The trial sets
itself up there, the baselines create their tables beside it, and then
Strongroom's rows and their baselines take turns (:func:`.measure.alternate`)
until each has had its budget: every side meets the same disk, server and
neighbours, and the machine's drift falls on all of them alike. A trial that
raises is recorded with its error on each of its scenarios, and the run goes on;
the report says what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from strongroom.bench.baseline import Baseline, open_baseline, set_up_baseline
from strongroom.bench.databases import (
    BACKENDS,
    DEFAULT_POSTGRES_URL,
    fresh_database,
    machine,
    postgres_reachable,
)
from strongroom.bench.measure import Budget, Measurement, Side, alternate
from strongroom.bench.scenarios import (
    SCENARIOS,
    RunSettings,
    Scenario,
    baseline_of,
    open_trial,
    trials,
)
from strongroom.domain.errors import StorageUnavailable, ValidationError

DEFAULT_SECONDS = 10.0
DEFAULT_ACCOUNTS = 1000


class Progress(Protocol):
    """Where the runner reports what it is doing (a rich progress bar, or nothing)."""

    def start(self, total: int) -> None: ...
    def stage(self, text: str) -> None: ...
    def advance(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def stage(self, text: str) -> None:
        pass

    def advance(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What ``strongroom bench`` was asked to do (checked on construction).

    No ``scenarios`` means all of them.
    """

    scenarios: tuple[str, ...] = ()
    backend: str = "all"
    duration: float | None = None
    n: int | None = None
    clients: int = 64
    accounts: int = DEFAULT_ACCOUNTS
    group_commit: bool = True
    verify: bool = True
    postgres_url: str = DEFAULT_POSTGRES_URL

    def __post_init__(self) -> None:
        if not self.scenarios:
            object.__setattr__(self, "scenarios", tuple(SCENARIOS))
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if unknown:
            known = ", ".join(SCENARIOS)
            raise ValidationError(f"scenarios are among: {known}", loc=("scenario",))
        if self.backend not in {*BACKENDS, "all"}:
            raise ValidationError("backend is sqlite, postgresql or all", loc=("backend",))
        if not 1 <= self.clients <= 1024:
            raise ValidationError("clients is 1 to 1024", loc=("clients",))
        if not 2 <= self.accounts <= 1_000_000:
            raise ValidationError("accounts is 2 to 1,000,000", loc=("accounts",))
        _ = self.budget  # checks the duration and the count

    @property
    def budget(self) -> Budget:
        if self.n is not None and self.duration is not None:
            raise ValidationError("give --duration or --n, not both", loc=("duration",))
        if self.n is not None:
            return Budget(count=self.n)
        return Budget(seconds=self.duration if self.duration is not None else DEFAULT_SECONDS)

    def command(self) -> str:
        """The command line that repeats this run."""
        words = ["strongroom", "bench"]
        if self.scenarios != tuple(SCENARIOS):
            for name in self.scenarios:
                words += ["--scenario", name]
        words += ["--backend", self.backend]
        budget = self.budget
        if budget.count is not None:
            words += ["--n", str(budget.count)]
        else:
            words += ["--duration", f"{budget.seconds:g}"]
        words += ["--clients", str(self.clients)]
        if self.accounts != DEFAULT_ACCOUNTS:
            words += ["--accounts", str(self.accounts)]
        if not self.group_commit:
            words.append("--no-group-commit")
        if not self.verify:
            words.append("--no-verify")
        return " ".join(words)


@dataclass(slots=True)
class Row:
    """One figure of Strongroom beside the baseline measured with it."""

    scenario: str
    backend: str
    ours: Measurement
    baseline: Measurement | None
    trial: tuple[str, ...] = ()
    """The rows measured in turns with this one (itself included)."""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline.rate or not self.ours.rate:
            return None
        return self.ours.rate / self.baseline.rate

    @property
    def errors(self) -> list[str]:
        return [*self.ours.errors, *(self.baseline.errors if self.baseline else [])]

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "scenario": self.scenario,
            "backend": self.backend,
            "strongroom": self.ours.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "ratio": None if ratio is None else round(ratio, 4),
            "trial": list(self.trial),
        }


@dataclass(slots=True)
class Report:
    command: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(row.errors for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "machine": self.machine,
            "settings": self.settings,
            "results": [row.to_dict() for row in self.rows],
            "targets": targets(self.rows),
            "notes": list(self.notes),
            "ok": self.ok,
        }


def run_suite(options: BenchOptions, progress: Progress | None = None) -> Report:
    """Measure every chosen scenario on every chosen backend; never raises for a scenario."""
    progress = progress or NoProgress()
    backends, notes = _backends(options)
    settings = RunSettings(
        budget=options.budget,
        accounts=options.accounts,
        clients=options.clients,
        group_commit=options.group_commit,
        verify=options.verify,
    )
    report = Report(
        command=options.command(),
        machine=machine(backends, options.postgres_url),
        settings={
            "budget": settings.budget.to_dict(),
            "accounts": settings.accounts,
            "clients": settings.clients,
            "group_commit": settings.group_commit,
            "backends": backends,
            "scenarios": list(options.scenarios),
        },
        notes=notes,
    )
    planned = trials(options.scenarios)
    progress.start(len(planned) * len(backends))
    for trial in planned:
        for backend in backends:
            report.rows.extend(_run_one(trial, backend, settings, options.postgres_url, progress))
            progress.advance()
    return report


def _backends(options: BenchOptions) -> tuple[list[str], list[str]]:
    if options.backend == "sqlite":
        return ["sqlite"], []
    reachable = postgres_reachable(options.postgres_url)
    if options.backend == "postgresql":
        if not reachable:
            raise StorageUnavailable("PostgreSQL does not answer at the --postgres-url")
        return ["postgresql"], []
    if not reachable:
        return ["sqlite"], ["PostgreSQL did not answer at the --postgres-url: SQLite only"]
    return list(BACKENDS), []


def _run_one(
    scenarios: tuple[Scenario, ...],
    backend: str,
    settings: RunSettings,
    admin_url: str,
    progress: Progress,
) -> list[Row]:
    name = "+".join(s.name for s in scenarios)

    def stage(text: str) -> None:
        progress.stage(f"{name} on {backend}: {text}")

    try:
        with (
            fresh_database(backend, admin_url) as db,
            open_trial(scenarios, db, settings, stage) as trial,
            ExitStack() as stack,
        ):
            stage("SQL: setting up")
            set_up_baseline(db, settings.accounts)
            opened: dict[Baseline, Side] = {
                spec: stack.enter_context(open_baseline(db, spec, settings.accounts))
                for spec in dict.fromkeys(baseline_of(row) for row, _ in trial.sides)
            }
            sides = [side for _, side in trial.sides] + list(opened.values())
            turn_seconds = max(s.turn_seconds for s in scenarios)
            alternate(sides, settings.budget, stage, turn_seconds)
            measured = {row: side.measurement() for row, side in trial.sides}
            baselines = {spec: side.measurement() for spec, side in opened.items()}
            trial.finish(measured)
    except Exception as exc:  # a broken trial is a finding of the run, not its end
        rows = []
        for scenario in scenarios:
            failed = Measurement("strongroom", 0, 1)
            failed.errors.append(f"{type(exc).__name__}: {exc}"[:1000])
            rows.append(Row(scenario.name, backend, failed, None))
        return rows
    together = tuple(measured)
    return [
        Row(row, backend, ours, baselines[baseline_of(row)], together)
        for row, ours in measured.items()
    ]


# -- targets --------------------------------------------------------------------------------


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """The ratios the issue sets targets on, for each backend that has their rows.

    A ratio of two scenarios says whether their rows took turns in one trial
    (``in_turns``) or were measured one after the other.
    """
    found = {(row.scenario, row.backend): row for row in rows if not row.errors}
    out: list[dict[str, Any]] = []

    def add(name: str, backend: str, value: float | None, unit: str = "x", **more: Any) -> None:
        if value is not None:
            target = {"name": name, "backend": backend, "value": round(value, 3), "unit": unit}
            out.append(target | more)

    def between(a: str, b: str, backend: str) -> None:
        """The ratio of two rows' rates, and whether they were measured in turns."""
        top, bottom = found.get((a, backend)), found.get((b, backend))
        if top is None or bottom is None or not bottom.ours.rate:
            return
        in_turns = b in top.trial
        add(f"{a} / {b}", backend, top.ours.rate / bottom.ours.rate, in_turns=in_turns)

    def of(scenario: str, backend: str, pick: Callable[[Row], float | None]) -> float | None:
        row = found.get((scenario, backend))
        return None if row is None else pick(row)

    for backend in BACKENDS:
        between("concurrent", "single", backend)
        between("hot", "concurrent", backend)
        add("batch / SQL batched", backend, of("batch", backend, lambda r: r.ratio))
        add("single / SQL per-commit x1", backend, of("single", backend, lambda r: r.ratio))
        add("single p50, group commit / none", backend, _p50_ratio(found, backend))
        add("http / SQL per-commit x8", backend, of("http", backend, lambda r: r.ratio))
        add("http p99", backend, of("http", backend, lambda r: r.ours.percentile_ms(0.99)), "ms")
    return out


def _p50_ratio(found: dict[tuple[str, str], Row], backend: str) -> float | None:
    """A lone transfer's median latency through the group committer over without it."""
    grouped, alone = found.get(("single", backend)), found.get(("single-alone", backend))
    if grouped is None or alone is None:
        return None
    top, bottom = grouped.ours.percentile_ms(0.5), alone.ours.percentile_ms(0.5)
    return None if top is None or not bottom else top / bottom
