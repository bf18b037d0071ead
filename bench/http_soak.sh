#!/usr/bin/env bash
# Server memory over a 5-minute `http` run: 150 s of single transfers and
# 150 s of batches, 64 clients, in turns of 15 s with each other and their
# baselines, on each backend. The report gives the server's peak RSS (VmHWM)
# and its RSS early in the run beside the RSS at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
mkdir -p bench/results
"$BIN/strongroom" bench --scenario http --backend all --duration 150 --clients 64 \
    --json "$@" > bench/results/http-soak.json.tmp
mv bench/results/http-soak.json.tmp bench/results/http-soak.json
"$BIN/python" bench/markdown.py bench/results/http-soak.json --memory
