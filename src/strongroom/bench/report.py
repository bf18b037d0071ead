"""Showing a run: a rich progress bar while it runs, then tables; or Markdown for the docs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table

from strongroom.bench.measure import Measurement
from strongroom.bench.runner import Report, targets


class RichProgress:
    """A progress bar over the (scenario, backend) pairs, naming the stage running."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, total: int) -> None:
        self._task = self._bar.add_task("starting", total=total)

    def stage(self, text: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=text)

    def advance(self) -> None:
        if self._task is not None:
            self._bar.advance(self._task)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _short(base: Measurement | None) -> str:
    """A baseline in a few characters: callers, transfers per commit, pattern."""
    if base is None:
        return "-"
    per_commit = base.extra.get("per_commit", 1)
    text = f"x{base.callers}" + (f" {per_commit}/tx" if per_commit != 1 else "")
    return text + (" hot" if base.extra.get("pattern") == "hot" else "")


def notes(ours: dict[str, Any]) -> list[str]:
    """What a figure needs said beside it: group commits, server memory and CPU, failures."""
    extra = ours["extra"]
    out = []
    if extra.get("mean_group") is not None and ours["callers"] > 1:
        text = f"mean group commit {extra['mean_group']:g}"
        if extra.get("lone_groups") is not None and extra.get("group_commits"):
            text += f", {extra['lone_groups'] / extra['group_commits']:.0%} of them lone"
        out.append(text)
    if extra.get("clients"):
        out.append(f"{extra['clients']} clients, serve --workers {extra['server_workers']}")
    if extra.get("server_cpu_seconds") is not None and ours["calls"]:
        per_call = extra["server_cpu_seconds"] * 1000 / ours["calls"]
        out.append(f"server CPU {per_call:.1f} ms/request")
    memory = extra.get("server_memory") or {}
    if memory:
        phases = [
            f"{name} {p['rss_early_mib']:g} -> {p['rss_end_mib']:g}"
            for name, p in sorted(
                memory.get("phases", {}).items(), key=lambda item: item[0] != "transfers"
            )
        ] or [f"{memory['rss_early_mib']:g} -> {memory['rss_end_mib']:g}"]
        out.append(f"server peak RSS {memory['peak_rss_mib']:g} MiB, RSS {', '.join(phases)} MiB")
    if extra.get("verified") is False:
        out.append("THE BOOKS DO NOT VERIFY")
    out.extend(f"error: {error}" for error in ours["errors"])
    return out


def results_table(report: Report) -> Table:
    table = Table(title="transfers per second: Strongroom beside hand-written SQL")
    table.add_column("scenario")
    table.add_column("backend")
    for column in ("strongroom/s", "SQL/s", "SQL is", "ratio", "p50 ms", "p99 ms", "p99.9 ms"):
        table.add_column(column, justify="left" if column == "SQL is" else "right")
    for row in report.rows:
        base = row.baseline
        table.add_row(
            row.scenario,
            row.backend,
            _rate(row.ours.rate) if not row.errors else "[red]failed[/red]",
            _rate(base.rate) if base else "-",
            _short(base),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            _ms(row.ours.percentile_ms(0.5)),
            _ms(row.ours.percentile_ms(0.99)),
            _ms(row.ours.percentile_ms(0.999)),
        )
    return table


def targets_table(report: Report) -> Table:
    table = Table(title="the ratios with targets")
    table.add_column("ratio")
    table.add_column("backend")
    table.add_column("value", justify="right")
    for target in targets(report.rows):
        table.add_row(target["name"], target["backend"], _target_value(target))
    return table


def _target_value(target: dict[str, Any]) -> str:
    """The value, its unit, and for a ratio of two scenarios how they were measured."""
    text = f"{target['value']:.3g}" + (" ms" if target["unit"] == "ms" else "")
    if "in_turns" in target:
        text += " (in turns)" if target["in_turns"] else " (one after the other)"
    return text


def show(report: Report, console: Console) -> None:
    console.print(f"[dim]{report.command}[/dim]")
    console.print(results_table(report))
    console.print(
        "[dim]SQL is: callers, transfers per commit (1 unless shown), hot: one shared account. "
        "holds counts a hold and a post as one write each.[/dim]"
    )
    for row in report.rows:
        for note in notes(row.ours.to_dict()):
            colour = "red" if note.startswith(("error", "THE BOOKS")) else "dim"
            console.print(f"  {row.scenario} on {row.backend}: [{colour}]{note}[/{colour}]")
    console.print(targets_table(report))
    for note in report.notes:
        console.print(f"[yellow]note[/yellow] {note}")


# -- Markdown, for docs/benchmarks.md ------------------------------------------------------


def to_markdown(data: dict[str, Any]) -> str:
    """The machine, the results and the target ratios of a ``--json`` report, as Markdown."""
    m = data["machine"]
    out = [
        f"Command: `{data['command']}`",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '-'}; "
        f"Strongroom {m['strongroom']} at {m['commit'] or '?'}; {m['date']}.",
        "",
        "| scenario | backend | strongroom/s | baseline | baseline/s | ratio "
        "| p50 ms | p99 ms | p99.9 ms | notes |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in data["results"]:
        ours, base = r["strongroom"], r["baseline"]
        cells = [
            r["scenario"],
            r["backend"],
            _rate(ours["rate"]) if not ours["errors"] else "failed",
            base["label"] if base else "-",
            _rate(base["rate"]) if base else "-",
            "-" if r["ratio"] is None else f"{r['ratio']:.3f}",
            _ms(ours["p50_ms"]),
            _ms(ours["p99_ms"]),
            _ms(ours["p999_ms"]),
            _markdown_notes(ours),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "| ratio | backend | value |", "|---|---|--:|"]
    for t in data["targets"]:
        out.append(f"| {t['name']} | {t['backend']} | {_target_value(t)} |")
    return "\n".join(out) + "\n"


def _markdown_notes(ours: dict[str, Any]) -> str:
    return "; ".join(notes(ours)).replace("|", "/").replace("->", "→")


def memory_markdown(data: dict[str, Any], points: int = 11) -> str:
    """The server's memory in each ``http`` row: peak, RSS early and late in each phase."""
    out = [
        "| backend | server processes | peak RSS (VmHWM) | transfers: RSS early → end "
        "| batches: RSS early → end | RSS over the run (s: MiB) |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for row in data["results"]:
        memory = row["strongroom"]["extra"].get("server_memory")
        if row["scenario"] != "http" or not memory:
            continue
        samples = memory["samples"]
        picked = sorted({round(i * (len(samples) - 1) / (points - 1)) for i in range(points)})
        curve = ", ".join(f"{samples[i][0]:.0f}: {samples[i][1]:.0f}" for i in picked)
        phases = [
            f"{p['rss_early_mib']:g} → {p['rss_end_mib']:g} MiB ({p['rss_growth_mib']:+g})"
            if p
            else "-"
            for p in (memory["phases"].get(name) for name in ("transfers", "batches"))
        ]
        out.append(
            f"| {row['backend']} | {memory['processes']} | {memory['peak_rss_mib']:g} MiB "
            f"| {phases[0]} | {phases[1]} | {curve} |"
        )
    return "\n".join(out) + "\n"
