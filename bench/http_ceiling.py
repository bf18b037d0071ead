"""What the HTTP server answers on this machine, by kind of request, beside the SQL baseline.

    .venv/bin/python bench/http_ceiling.py                 # 4 turns of 3 s, 64 clients, PostgreSQL
    .venv/bin/python bench/http_ceiling.py --turns 6 --seconds 5

The `http` target asks the server for more transfers a second, with 64 clients,
than the hand-written SQL ledger does with 8 callers. This measures how far the
server's own stack is from that, without the ledger's writes in the way: on one
fresh PostgreSQL database, `strongroom serve` (2 workers, as the `http` scenario
runs it) answers in turns

- `GET /healthz`: no key, no database (uvicorn, Starlette, FastAPI, our middleware);
- `GET /v1/accounts/{id}`: the key check and one read by primary key;
- `POST /v1/transfers`: a keyed transfer, as in the `http` scenario;

from the suite's load generator (one event loop, kept-alive connections), and
after each round the per-commit SQL baseline with 8 callers runs on the same
database. Each kind prints its median rate, p50 and p99, its rate over the
baseline's in each round, the CPU per request of the server, of PostgreSQL's
processes and of the load generator, how busy the cores were, and how many
connections PostgreSQL saw opened in each turn.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import psycopg

from strongroom.bench.baseline import PER_COMMIT_8, open_baseline, set_up_baseline
from strongroom.bench.databases import DEFAULT_POSTGRES_URL, fresh_database

# The `http` scenario's own server, load generator and request makers.
from strongroom.bench.http import (
    Check,
    HttpFailure,
    Request,
    _drive,
    _server,
    _transfers,
    _tree_cpu_seconds,
    prepare_database,
)
from strongroom.bench.measure import Budget, numbered
from strongroom.bench.workload import account_ids

ACCOUNTS = 1000
Kind = Callable[[int], tuple[Request, Check]]


def _get(host: str, secret: str, path: Callable[[int, int], str]) -> Kind:
    def make(worker: int) -> tuple[Request, Check]:
        def request(i: int) -> bytes:
            head = f"GET {path(worker, i)} HTTP/1.1\r\nHost: {host}\r\n"
            return f"{head}Authorization: Bearer {secret}\r\n\r\n".encode()

        def check(status: int, body: bytes) -> None:
            if status != 200:
                raise HttpFailure(f"GET {path(worker, 0)}: {status} {body[:300]!r}")

        return request, check

    return make


def _postgres_cpu_seconds() -> float:
    """User and system CPU so far of PostgreSQL's processes: those running, and, through
    the postmaster's count of its reaped children, those that have exited (a backend
    ends with its connection)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        try:
            name, _, rest = (entry / "stat").read_text().partition(" (")[2].rpartition(")")
        except OSError:
            continue
        if name == "postgres":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime and stime
            if fields[1] == "1" or not _is_postgres(int(fields[1])):  # the postmaster
                ticks += int(fields[13]) + int(fields[14])  # cutime and cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _machine_ticks() -> tuple[int, int]:
    """(busy, all) jiffies of every CPU so far, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def _sessions(url: str) -> int:
    """Connections opened to the database so far (PostgreSQL's own count, this one's
    included: the difference of two readings is one more than what others opened)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="per kind and turn")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()

    ids = account_ids(ACCOUNTS)
    with fresh_database("postgresql", args.postgres_url) as db:
        _tenant, secret = prepare_database(db.url, ACCOUNTS)
        set_up_baseline(db, ACCOUNTS)
        with (
            _server(db.url, args.workers) as server,
            open_baseline(db, PER_COMMIT_8, ACCOUNTS) as baseline,
        ):
            host = server.base_url.removeprefix("http://")

            def transfers(worker: int) -> tuple[Request, Check]:
                request, check = _transfers(host, secret, ACCOUNTS, worker)
                return numbered(request), check  # numbered on across turns: no key twice

            kinds: dict[str, Kind] = {
                "GET /healthz": _get(host, secret, lambda w, i: "/healthz"),
                "GET /v1/accounts/{id}": _get(
                    host, secret, lambda w, i: f"/v1/accounts/{ids[(w * 7919 + i) % ACCOUNTS]}"
                ),
                "POST /v1/transfers": transfers,
            }
            makers = {name: [kind(w) for w in range(args.clients)] for name, kind in kinds.items()}
            rates: dict[str, list[float]] = {name: [] for name in [*kinds, "baseline"]}
            p50: dict[str, list[float]] = {name: [] for name in kinds}
            p99: dict[str, list[float]] = {name: [] for name in kinds}
            cpu: dict[str, list[float]] = {name: [] for name in kinds}
            database: dict[str, list[float]] = {name: [] for name in kinds}
            client: dict[str, list[float]] = {name: [] for name in kinds}
            busy: dict[str, list[float]] = {name: [] for name in kinds}
            opened: dict[str, list[int]] = {name: [] for name in kinds}
            budget = Budget(seconds=args.seconds)
            for turn in range(args.turns):
                order = list(kinds) if turn % 2 == 0 else list(reversed(kinds))
                for name in order:
                    before = _tree_cpu_seconds(server.pid), _postgres_cpu_seconds()
                    ticks, sessions = _machine_ticks(), _sessions(db.url)
                    measured = _drive(
                        name, server.base_url, args.clients, budget, makers[name].__getitem__, 1
                    )
                    after = _tree_cpu_seconds(server.pid), _postgres_cpu_seconds()
                    (busy_after, all_after), calls = _machine_ticks(), max(measured.calls, 1)
                    opened[name].append(_sessions(db.url) - sessions - 1)
                    if measured.errors:
                        raise SystemExit(f"{name}: {measured.errors[0]}")
                    rates[name].append(measured.rate)
                    p50[name].append(measured.percentile_ms(0.5) or 0.0)
                    p99[name].append(measured.percentile_ms(0.99) or 0.0)
                    cpu[name].append((after[0] - before[0]) / calls * 1e3)
                    database[name].append((after[1] - before[1]) / calls * 1e3)
                    client[name].append(measured.cpu_seconds / calls * 1e3)
                    busy[name].append((busy_after - ticks[0]) / max(all_after - ticks[1], 1))
                rates["baseline"].append(baseline.turn(budget).rate)

    print(f"{args.clients} clients, serve --workers {args.workers}, PostgreSQL, "
          f"{args.turns} turns of {args.seconds:g} s (medians)")  # fmt: skip
    for name in kinds:
        ratios = [round(a / b, 2) for a, b in zip(rates[name], rates["baseline"], strict=True)]
        print(
            f"{name:24} {statistics.median(rates[name]):8,.0f}/s  p50 "
            f"{statistics.median(p50[name]):5.1f} ms  p99 {statistics.median(p99[name]):6.1f} ms"
            f"  / baseline {ratios}\n{'':24} CPU per "
            f"request: server {statistics.median(cpu[name]):.2f} ms, PostgreSQL "
            f"{statistics.median(database[name]):.2f} ms, load generator "
            f"{statistics.median(client[name]):.2f} ms; both cores "
            f"{statistics.median(busy[name]):.0%} busy; connections opened {opened[name]}"
        )
    base = rates["baseline"]
    turns = [round(rate) for rate in base]
    print(f"{PER_COMMIT_8.label:24} {statistics.median(base):8,.0f}/s  turns {turns}")


if __name__ == "__main__":
    main()
