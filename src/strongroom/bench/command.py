"""What ``strongroom bench`` does once its options are parsed (the CLI stays thin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from strongroom.bench.chart import write_chart
from strongroom.bench.report import RichProgress, show
from strongroom.bench.runner import BenchOptions, run_suite


def run_bench(
    options: BenchOptions,
    *,
    as_json: bool,
    chart: Path | None,
    console: Console,
    err_console: Console,
) -> int:
    """Run the suite, print the tables (or JSON), draw the chart; 0 when nothing failed.

    The progress bar goes to standard error, and only when that is a terminal.
    """
    if err_console.is_terminal:
        with RichProgress(err_console) as progress:
            report = run_suite(options, progress)
    else:
        report = run_suite(options)
    data = report.to_dict()
    if chart is not None:
        write_chart(data, chart)
        data["chart"] = str(chart)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
    else:
        show(report, console)
        if chart is not None:
            console.print(f"chart written to {chart}")
    if not report.ok:
        for row in report.rows:
            for error in row.errors:
                err_console.print(f"[red]error[/red] {row.scenario} on {row.backend}: {error}")
        return 1
    return 0
