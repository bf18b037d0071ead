"""``strongroom bench`` runs every scenario end to end on SQLite and reports JSON.

Tiny counts only: these tests check that the benchmarks run and what they
report, never how fast anything is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from strongroom.bench import SCENARIOS
from strongroom.bench.report import to_markdown
from strongroom.cli import app

runner = CliRunner()
ROWS = [*SCENARIOS, "single-alone", "http-batch"]
MEASUREMENT_KEYS = {
    "label", "callers", "units_per_call", "calls", "units", "seconds", "cpu_seconds",
    "rate", "p50_ms", "p99_ms", "p999_ms", "errors", "extra",
}  # fmt: skip


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """One tiny run of every scenario on SQLite, as ``--json`` prints it."""
    result = runner.invoke(
        app,
        ["bench", "--backend", "sqlite", "--n", "4", "--clients", "2", "--accounts", "8", "--json"],
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _row(report: dict[str, Any], scenario: str) -> dict[str, Any]:
    return next(r for r in report["results"] if r["scenario"] == scenario)


def test_bench_has_help() -> None:
    """bench documents itself."""
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--scenario" in result.output


def test_report_names_command_machine_and_settings(report: dict[str, Any]) -> None:
    """The report carries the command that repeats it and the machine it ran on."""
    assert report["command"].startswith("strongroom bench --backend sqlite --n 4")
    assert {"nproc", "memory_gib", "python", "sqlite", "postgresql"} <= set(report["machine"])
    assert report["settings"]["backends"] == ["sqlite"]
    assert report["ok"] is True


@pytest.mark.parametrize("scenario", ROWS, ids=ROWS)
def test_each_scenario_has_a_figure_and_a_baseline(report: dict[str, Any], scenario: str) -> None:
    """Every scenario reports its measurement beside a baseline, and a ratio of the two."""
    row = _row(report, scenario)
    assert row["backend"] == "sqlite"
    assert set(row["strongroom"]) == MEASUREMENT_KEYS
    assert set(row["baseline"]) == MEASUREMENT_KEYS
    assert row["strongroom"]["errors"] == []
    assert row["strongroom"]["units"] >= 4
    assert row["ratio"] == pytest.approx(row["strongroom"]["rate"] / row["baseline"]["rate"], 1e-2)


@pytest.mark.parametrize("scenario", ROWS, ids=ROWS)
def test_each_row_took_turns_with_its_baseline(report: dict[str, Any], scenario: str) -> None:
    """A row and its baseline ran in as many turns, alternating (``--n 4``: a turn for
    each call of the side with the fewest calls: one turn beside 8 or 16 callers or
    1,000 transfers a call, as single's rows share a trial with concurrent's 16
    callers; two for holds, whose calls write twice)."""
    row = _row(report, scenario)
    ours, base = row["strongroom"]["extra"]["turns"], row["baseline"]["extra"]["turns"]
    assert ours == base
    assert ours == {"holds": 2}.get(scenario, 1)


SHARED = ["single", "single-alone", "concurrent", "hot"]


def test_single_concurrent_and_hot_share_one_trial(report: dict[str, Any]) -> None:
    """Run together, single, concurrent and hot are one trial: their rows took turns
    with each other, so the targets on their ratios say they were measured in turns;
    every other scenario is a trial of its own."""
    for scenario in SHARED:
        assert _row(report, scenario)["trial"] == SHARED
    assert _row(report, "http")["trial"] == ["http", "http-batch"]
    assert _row(report, "batch")["trial"] == ["batch"]
    between = {t["name"]: t for t in report["targets"] if "in_turns" in t}
    assert set(between) == {"concurrent / single", "hot / concurrent"}
    assert all(t["in_turns"] for t in between.values())
    single, concurrent = _row(report, "single"), _row(report, "concurrent")
    ratio = concurrent["strongroom"]["rate"] / single["strongroom"]["rate"]
    assert between["concurrent / single"]["value"] == pytest.approx(ratio, rel=1e-2)
    assert "concurrent / single" in to_markdown(report)


def test_a_scenario_chosen_alone_is_a_trial_of_its_own() -> None:
    """``--scenario single`` alone: its two rows and their baseline take a turn for
    each of the four calls, and no ratio to another scenario is reported."""
    args = ["--scenario", "single", "--backend", "sqlite", "--n", "4", "--accounts", "8"]
    result = runner.invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["scenario"] for r in data["results"]] == ["single", "single-alone"]
    for row in data["results"]:
        assert row["trial"] == ["single", "single-alone"]
        assert row["strongroom"]["extra"]["turns"] == row["baseline"]["extra"]["turns"] == 4
        assert row["strongroom"]["extra"]["verified"] is True
    assert not [t for t in data["targets"] if "in_turns" in t]


def test_rows_of_many_callers_say_how_many_commits_were_lone(report: dict[str, Any]) -> None:
    """Beside the mean group commit, the share of batches of one: a mean alone hid
    batches of 1 and 16 in turn."""
    for scenario in ("concurrent", "hot"):
        extra = _row(report, scenario)["strongroom"]["extra"]
        assert 0 <= extra["lone_groups"] <= extra["group_commits"]
    assert "of them lone" in to_markdown(report)


VERIFIED = ["single", "single-alone", "concurrent", "hot", "batch", "holds", "http-batch"]


@pytest.mark.parametrize("scenario", VERIFIED, ids=VERIFIED)
def test_books_verify_after_each_scenario(report: dict[str, Any], scenario: str) -> None:
    """Each scenario leaves books whose chain and balances verify."""
    assert _row(report, scenario)["strongroom"]["extra"]["verified"] is True


def test_http_reports_server_memory(report: dict[str, Any]) -> None:
    """The http scenario reports the server's peak RSS and RSS samples over the run."""
    memory = _row(report, "http")["strongroom"]["extra"]["server_memory"]
    assert memory["peak_rss_mib"] > 0
    assert memory["samples"]


def test_targets_are_ratios_of_the_rows(report: dict[str, Any]) -> None:
    """The target ratios are named, per backend, and computed from the rows."""
    names = {t["name"] for t in report["targets"]}
    assert {"concurrent / single", "hot / concurrent", "batch / SQL batched"} <= names
    assert {"single / SQL per-commit x1", "http / SQL per-commit x8", "http p99"} <= names
    assert "single p50, group commit / none" in names


def test_single_alternates_with_and_without_group_commit(report: dict[str, Any]) -> None:
    """single's lone transfers each commit as a group of one; single-alone's, measured in
    turns with them on the same database, bypass the group committer."""
    grouped, alone = (
        _row(report, "single")["strongroom"],
        _row(report, "single-alone")["strongroom"],
    )
    assert grouped["extra"]["group_commits"] == grouped["calls"] >= 4
    assert grouped["extra"]["mean_group"] == 1.0
    assert grouped["extra"]["lone_groups"] == grouped["calls"]
    assert "group_commits" not in alone["extra"]
    assert alone["calls"] >= 4
    p50 = next(t for t in report["targets"] if t["name"] == "single p50, group commit / none")
    assert p50["value"] == pytest.approx(grouped["p50_ms"] / alone["p50_ms"], rel=1e-2)


def test_markdown_lists_every_row(report: dict[str, Any]) -> None:
    """The Markdown for docs/benchmarks.md has a table line per scenario."""
    text = to_markdown(report)
    for scenario in ROWS:
        assert f"| {scenario} | sqlite |" in text


def test_chart_is_a_png(report: dict[str, Any], tmp_path: Path) -> None:
    """With matplotlib installed, the chart is written as a PNG."""
    pytest.importorskip("matplotlib")
    from strongroom.bench.chart import write_chart

    write_chart(report, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_duration_and_count_together_are_refused() -> None:
    """--duration and --n exclude each other: a validation error, exit code 2."""
    result = runner.invoke(app, ["bench", "--backend", "sqlite", "--duration", "1", "--n", "5"])
    assert result.exit_code == 2


def test_unknown_scenario_is_refused() -> None:
    """An unknown scenario name is a validation error, exit code 2."""
    result = runner.invoke(app, ["bench", "--backend", "sqlite", "--scenario", "nope"])
    assert result.exit_code == 2
