"""Print a `strongroom bench --json` report as the Markdown of docs/benchmarks.md.

    .venv/bin/python bench/markdown.py bench/results/latest.json [--memory]

``--memory`` adds the server's RSS over the run of each ``http`` row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from strongroom.bench.report import memory_markdown, to_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--memory", action="store_true", help="add the server's RSS samples")
    args = parser.parse_args()
    data = json.loads(args.report.read_text())
    print(to_markdown(data))
    if args.memory:
        print(memory_markdown(data))


if __name__ == "__main__":
    main()
