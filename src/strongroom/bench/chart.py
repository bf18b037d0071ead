"""A PNG of a run: per backend, each scenario's throughput beside its baseline.

Needs matplotlib (``pip install 'strongroom[bench]'``). The y axis is
logarithmic (a batch moves thousands of times what a lone call does); each
pair of bars carries its ratio.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import fill
from typing import Any

from strongroom.domain.errors import ValidationError

OURS_COLOUR = "#1f6f8b"
BASE_COLOUR = "#c9c9c9"


def write_chart(data: dict[str, Any], path: Path) -> None:
    """Draw the ``--json`` report ``data`` to ``path`` (PNG)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ValidationError(
            "the chart needs matplotlib: pip install 'strongroom[bench]'", loc=("chart",)
        ) from exc
    backends = list(dict.fromkeys(r["backend"] for r in data["results"]))
    if not backends:
        raise ValidationError("nothing was measured, so there is nothing to draw", loc=("chart",))
    figure = Figure(figsize=(11, 4.2 * len(backends)), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(backends), 1, squeeze=False)
    for axis, backend in zip(axes[:, 0], backends, strict=True):
        rows = [r for r in data["results"] if r["backend"] == backend and r["baseline"]]
        _draw(axis, backend, rows)
    figure.suptitle(f"Strongroom beside hand-written SQL ({data['machine']['date']})")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _draw(axis: Any, backend: str, rows: list[dict[str, Any]]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = [r["scenario"] for r in rows]
    ours = [r["strongroom"]["rate"] for r in rows]
    base = [r["baseline"]["rate"] for r in rows]
    where = list(range(len(rows)))
    width = 0.38
    axis.bar([x - width / 2 for x in where], ours, width, label="Strongroom", color=OURS_COLOUR)
    axis.bar([x + width / 2 for x in where], base, width, label="SQL baseline", color=BASE_COLOUR)
    for x, row, value in zip(where, rows, ours, strict=True):
        if row["ratio"] is not None and value > 0:
            axis.annotate(
                f"{row['ratio']:.2f}x",
                (x - width / 2, value),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    labels = [  # the baseline on lines of its own, so that neighbours' labels never meet
        f"{n}\n" + fill(f"({r['baseline']['label'].removeprefix('SQL ')})", 16)
        for n, r in zip(names, rows, strict=True)
    ]
    axis.set_xticks(where, labels, fontsize=8)
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_ylabel("transfers per second")
    axis.set_title(backend)
    axis.grid(axis="y", which="major", alpha=0.3)
    axis.legend(loc="upper left", fontsize=8)
