"""Benchmarks: Strongroom's throughput beside a hand-written SQL ledger, in one run.

``strongroom bench`` (see ``bench/README.md``) runs the scenarios of
:mod:`strongroom.bench.scenarios` on SQLite and PostgreSQL; each on a fresh
database, in turns there with the baseline of :mod:`strongroom.bench.baseline`,
so every figure is also a ratio that survives a noisy machine.
"""

from strongroom.bench.baseline import Baseline
from strongroom.bench.measure import Budget, Measurement
from strongroom.bench.runner import BenchOptions, Report, Row, run_suite, targets
from strongroom.bench.scenarios import SCENARIOS, Scenario

__all__ = [
    "SCENARIOS",
    "Baseline",
    "BenchOptions",
    "Budget",
    "Measurement",
    "Report",
    "Row",
    "Scenario",
    "run_suite",
    "targets",
]
