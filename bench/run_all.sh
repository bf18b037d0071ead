#!/usr/bin/env bash
# The whole suite at moderate size, on SQLite and PostgreSQL, as docs/benchmarks.md records it.
#
#   bench/run_all.sh                 # 15 s per measurement, 64 HTTP clients
#   DURATION=5 bench/run_all.sh      # quicker, noisier
#   bench/run_all.sh --backend sqlite  (any other `strongroom bench` option is passed on)
#
# Writes bench/results/latest.json and docs/benchmarks.png, and prints the
# Markdown tables to paste into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DURATION=${DURATION:-15}
mkdir -p bench/results
"$BIN/strongroom" bench --backend all --duration "$DURATION" --clients 64 \
    --chart docs/benchmarks.png --json "$@" > bench/results/latest.json.tmp
mv bench/results/latest.json.tmp bench/results/latest.json
"$BIN/python" bench/markdown.py bench/results/latest.json
