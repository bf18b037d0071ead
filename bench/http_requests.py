"""What the HTTP stack costs per ``POST /v1/transfers``, in process: time, or instructions.

    .venv/bin/python bench/http_requests.py                      # CPU and wall time per request
    .venv/bin/python bench/http_requests.py --concurrency 16     # 16 requests in flight
    .venv/bin/python bench/http_requests.py --instructions       # instructions per request

The server's application (``create_app``, with its middleware, routes, key check,
models and the ledger's group commit) is called directly as an ASGI app by
asyncio tasks in this process: no sockets, no uvicorn, no HTTP client, so what
is measured is the application's own work per request. A fresh database of
``--backend`` gets the benchmark's 1,000 funded accounts, a tenant and its key;
every request is a keyed transfer between two of them and must answer 201.

``--instructions`` counts instead of timing: the script runs itself twice under
valgrind's callgrind (``apt-get install valgrind`` where it is missing),
with ``--requests`` and with four times as many, and prints the difference
divided by the difference in requests, which cancels start-up and set-up; for
all threads, and for the main thread alone, which runs the event loop: the HTTP
layer and the route's own work, without the ledger's committer thread. The
count does not move with the machine's load, so it compares two versions of the
code where wall time cannot. The main thread's count moved by up to 7% between
runs of the same code here, the total by up to 17% (the committer thread's part
depends on how its hand-offs with the event loop happen to interleave): run each
version a few times. One
request at a time (``--concurrency 1``, the default) keeps the batches of the
group commit the same from run to run.

While requests run, the key cache is kept fresh without reading the revocation
epoch every 20 ms as the server does: under callgrind the run is
about fifty times slower, and those reads would be counted per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from strongroom.api.app import create_app
from strongroom.api.settings import Settings
from strongroom.bench.databases import BACKENDS, DEFAULT_POSTGRES_URL, fresh_database
from strongroom.bench.http import prepare_database
from strongroom.bench.workload import CURRENCY, pairs

ACCOUNTS = 1000
WARM_UP = 50
COUNT_FILE = re.compile(rb"^summary: (\d+)$", re.MULTILINE)


class _Client:
    """One caller's keyed transfers, sent straight to the ASGI app."""

    def __init__(self, app: Any, secret: str, worker: int) -> None:
        self.app = app
        self.worker = worker
        self.authorization = f"Bearer {secret}".encode()
        self.pick = pairs("uniform", ACCOUNTS, worker)
        self.sent = 0

    async def send(self, count: int) -> None:
        for _ in range(count):
            await self._one(self.sent)
            self.sent += 1

    async def _one(self, i: int) -> None:
        source, destination = self.pick(i)
        body = json.dumps(
            {"from": source, "to": destination, "amount": 1, "currency": CURRENCY}
        ).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/transfers",
            "raw_path": b"/v1/transfers",
            "root_path": "",
            "query_string": b"",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 40000 + self.worker),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"authorization", self.authorization),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"idempotency-key", f"h{self.worker}.{i}".encode()),
            ],
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        answer: list[Any] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            answer.append(message)

        await self.app(scope, receive, send)
        status = answer[0]["status"]
        if status != 201:
            raise SystemExit(f"POST /v1/transfers answered {status}: {answer[1:]!r:.300}")


def _sent(requests: int, concurrency: int) -> int:
    """The requests measured: the same share for every caller, at least one each."""
    return max(1, requests // concurrency) * concurrency


async def _drive(url: str, secret: str, requests: int, concurrency: int) -> dict[str, float]:
    app = create_app(Settings(database_url=url, worker=False))
    async with app.router.lifespan_context(app):
        cache = app.state.access.cache
        clients = [_Client(app, secret, w) for w in range(concurrency)]
        await asyncio.gather(*(c.send(1) for c in clients))  # each key is cached now
        cache.refresh_seconds = cache.window_seconds = 1e9  # see the module's doc
        cache.touch_every = timedelta(days=1)
        await asyncio.sleep(0.3)  # the watcher's wait in progress ends, then waits 1e9 s
        await asyncio.gather(*(c.send(WARM_UP) for c in clients))
        done = _sent(requests, concurrency)
        wall, cpu, loop = time.perf_counter(), time.process_time(), time.thread_time()
        await asyncio.gather(*(c.send(done // concurrency) for c in clients))
        return {
            "requests": done,
            "per_second": done / (time.perf_counter() - wall),
            "cpu_us": (time.process_time() - cpu) / done * 1e6,
            "loop_cpu_us": (time.thread_time() - loop) / done * 1e6,
        }


def measure(backend: str, requests: int, concurrency: int, admin_url: str) -> dict[str, float]:
    with fresh_database(backend, admin_url) as db:
        _tenant, secret = prepare_database(db.url, ACCOUNTS)
        return asyncio.run(_drive(db.url, secret, requests, concurrency))


def _instructions(args: argparse.Namespace, requests: int) -> tuple[int, int]:
    """Instructions of a run of this script with ``requests``, counted by callgrind:
    ``(all threads, the main thread)``; the main thread runs the event loop."""
    with tempfile.TemporaryDirectory(prefix="sr-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--backend",
            args.backend,
            "--requests",
            str(requests),
            "--concurrency",
            str(args.concurrency),
            "--postgres-url",
            args.postgres_url,
        ]
        done = subprocess.run(  # noqa: S603 (valgrind on this script, our own arguments)
            command, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"under callgrind: {done.stderr[-2000:]}")
        counts = {}
        for thread in Path(folder).glob("callgrind.out-*"):
            found = COUNT_FILE.search(thread.read_bytes())
            if found is None:
                raise SystemExit(f"callgrind wrote no summary line in {thread.name}")
            counts[int(thread.name.rsplit("-", 1)[1])] = int(found.group(1))
        return sum(counts.values()), counts[min(counts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument(
        "--requests", type=int, help="2,000 timed; with --instructions, 100 and four times that"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("STRONGROOM_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args()
    requests = args.requests or (100 if args.instructions else 2000)
    if requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    if args.instructions:
        few, many = _instructions(args, requests), _instructions(args, 4 * requests)
        sent = _sent(4 * requests, args.concurrency) - _sent(requests, args.concurrency)
        total, loop = ((m - f) / sent for m, f in zip(many, few, strict=True))
        print(
            f"{args.backend}, {args.concurrency} at a time: {total:,.0f} instructions per "
            f"request, {loop:,.0f} on the event loop's thread ({requests} and {4 * requests} "
            "requests)"
        )
        return
    figures = measure(args.backend, requests, args.concurrency, args.postgres_url)
    print(
        f"{args.backend}, {args.concurrency} at a time, {figures['requests']:.0f} requests: "
        f"{figures['per_second']:,.0f}/s, {figures['cpu_us']:,.0f} µs of CPU per request "
        f"({figures['loop_cpu_us']:,.0f} µs on the event loop's thread)"
    )


if __name__ == "__main__":
    main()
