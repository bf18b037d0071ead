"""The ``http`` scenario: N keep-alive clients against a real ``strongroom serve``.

The server runs as a subprocess on a port of its own and the scenario's fresh
database (``--workers 2`` on PostgreSQL, one process on SQLite). Its tenant,
key and funded accounts are made through the library before it starts. Two
sides take turns with their baselines: ``clients`` kept-alive connections,
driven by one event loop (see the load generator below), send single transfers
(row ``http``), or batches of 100 (row ``http-batch``), each request with an
``Idempotency-Key``; the latency of every request is kept. Each side has the
whole budget (a duration or a count) over its turns. The server stays up
throughout, so a 5-minute memory run is ``--duration 150``.

Meanwhile a sampler reads the resident memory (``VmRSS``) of the server's
whole process tree twice a second; at the end ``VmHWM`` (the peak) of each
process. The report gives the peak, and the memory early in the run beside the
memory at its end, which is what "memory stays flat" means; and the same for
each phase (transfers, batches), over the samples of its turns.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import httpx

from strongroom.access.service import Access
from strongroom.bench.databases import Database
from strongroom.bench.measure import (
    MAX_ERRORS_KEPT,
    Budget,
    Measurement,
    Side,
    inside,
    numbered,
    settle,
)
from strongroom.bench.scenarios import RunSettings, Stage, Trial
from strongroom.bench.workload import CURRENCY, pairs, set_up_ledger
from strongroom.engine.ledger import Ledger
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import upgrade

HTTP_BATCH = 100
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 120
SAMPLE_EVERY_S = 0.5
MAX_SAMPLES_KEPT = 120


class HttpFailure(Exception):
    """The server answered a benchmark request with an unexpected status."""


@contextmanager
def open_http(db: Database, settings: RunSettings, stage: Stage) -> Iterator[Trial]:
    """The server up on the scenario's database; its two rows as sides (see above)."""
    stage("setting up")
    tenant, secret = prepare_database(db.url, settings.accounts)
    workers = 2 if db.backend == "postgresql" else 1
    rows: dict[str, Measurement] = {}
    with _server(db.url, workers) as server, _RssSampler(server.pid) as sampler:
        host = httpx.URL(server.base_url).netloc.decode()

        def side(name: str, kind: Callable[..., tuple[Request, Check]], units: int) -> _HttpSide:
            clients = [kind(host, secret, settings.accounts, w) for w in range(settings.clients)]
            return _HttpSide(f"strongroom http {name}", name, server, sampler, clients, units)

        transfers = side("transfers", _transfers, 1)
        batches = side("batches", _batches, HTTP_BATCH)
        yield Trial([("http", transfers), ("http-batch", batches)], rows.update)
    if not rows:
        return
    transfers_row, batches_row = rows["http"], rows["http-batch"]
    for measured in (transfers_row, batches_row):
        measured.extra.update({"clients": settings.clients, "server_workers": workers})
    transfers_row.extra["server_memory"] = sampler.report()
    if settings.verify:
        stage("verifying the books")
        with Ledger.open(db.url, tenant=tenant, migrate=False, create_tenant=False) as ledger:
            began = time.perf_counter()
            report = ledger.verify()
        batches_row.extra["verified"] = report.ok
        batches_row.extra["verify_seconds"] = round(time.perf_counter() - began, 2)
        if not report.ok:
            batches_row.errors.append(f"verify failed after the run: {report.to_dict()}"[:500])


class _HttpSide(Side):
    """One kind of request (``phase``) from every client, in turns.

    Each client's requests are numbered on across turns, so no idempotency key
    comes twice; between turns the clients' connections close and the server
    idles (the memory sampler marks those stretches as no phase).
    """

    def __init__(
        self,
        label: str,
        phase: str,
        server: _Server,
        sampler: _RssSampler,
        clients: list[tuple[Request, Check]],
        units_per_call: int,
    ) -> None:
        super().__init__(label, len(clients), units_per_call)
        self.phase = phase
        self._server = server
        self._sampler = sampler
        self._clients = [(numbered(request), check) for request, check in clients]
        self._server_cpu = 0.0

    def _run(self, budget: Budget) -> Measurement:
        self._sampler.mark(self.phase)
        cpu = _tree_cpu_seconds(self._server.pid)
        try:
            return _drive(
                self.label,
                self._server.base_url,
                self.callers,
                budget,
                self._clients.__getitem__,
                self.units_per_call,
            )
        finally:
            self._server_cpu += _tree_cpu_seconds(self._server.pid) - cpu
            self._sampler.mark(None)

    def measurement(self) -> Measurement:
        measured = super().measurement()
        measured.extra["server_cpu_seconds"] = round(self._server_cpu, 2)
        return measured


def prepare_database(url: str, accounts: int) -> tuple[str, str]:
    """Migrate, create the tenant and its key, and fund the accounts: ``(tenant, key)``."""
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        tenant, secret = Access(engine).create_tenant("bench")
        set_up_ledger(Ledger(engine, tenant=tenant.id), accounts)
    finally:
        engine.dispose()
    return tenant.id, secret


# -- the load generator ---------------------------------------------------------------------
#
# One event loop in a thread of its own drives every client: each is a kept-alive
# connection that writes a prepared HTTP/1.1 request and reads the answer with
# httptools' parser. A thread per client with httpx cost the benchmark process
# more CPU per request than the server spent, on the same two cores, and each
# answer then waited for the client's own GIL before its latency was taken.

Request = Callable[[int], bytes]
"""The bytes of call ``i`` of one client."""
Check = Callable[[int, bytes], None]
"""Raises HttpFailure unless ``(status, body)`` is the expected answer."""


def _request(host: str, secret: str, path: str, body: Any, key: str) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"Idempotency-Key: {key}\r\n\r\n"
    )
    return head.encode() + payload


def _transfers(host: str, secret: str, accounts: int, worker: int) -> tuple[Request, Check]:
    pick = pairs("uniform", accounts, worker)

    def request(i: int) -> bytes:
        source, destination = pick(i)
        body = {"from": source, "to": destination, "amount": 1, "currency": CURRENCY}
        return _request(host, secret, "/v1/transfers", body, f"t{worker}.{i}")

    def check(status: int, body: bytes) -> None:
        if status != 201:
            raise HttpFailure(f"POST /v1/transfers: {status} {body[:300]!r}")

    return request, check


def _batches(host: str, secret: str, accounts: int, worker: int) -> tuple[Request, Check]:
    pick = pairs("uniform", accounts, worker)

    def request(i: int) -> bytes:
        items = []
        for k in range(HTTP_BATCH):
            source, destination = pick(i * HTTP_BATCH + k)
            lines = [
                {"account": source, "side": "debit", "amount": 1},
                {"account": destination, "side": "credit", "amount": 1},
            ]
            items.append({"lines": lines, "currency": CURRENCY})
        body = {"transactions": items}
        return _request(host, secret, "/v1/transactions/batch", body, f"b{worker}.{i}")

    def check(status: int, body: bytes) -> None:
        statuses = {r["status"] for r in json.loads(body)["results"]} if status == 200 else {}
        if status != 200 or statuses != {201}:
            raise HttpFailure(f"POST /v1/transactions/batch: {status} {body[:300]!r}")

    return request, check


class _Answer:
    """httptools' callbacks for one response."""

    __slots__ = ("chunks", "complete")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    writer.write(request)
    while not answer.complete:
        data = await reader.read(65536)
        if not data:
            raise HttpFailure("the server closed the connection")
        parser.feed_data(data)
    return parser.get_status_code(), b"".join(answer.chunks)


def _drive(
    label: str,
    base_url: str,
    clients: int,
    budget: Budget,
    make: Callable[[int], tuple[Request, Check]],
    units_per_call: int,
) -> Measurement:
    """``clients`` connections, each sending its calls one after another (see above)."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    result = Measurement(label, clients, units_per_call)
    per_client: list[list[float]] = [[] for _ in range(clients)]
    overran = [0.0] * clients  # see measure.settle

    async def client(number: int, began: asyncio.Event, stop: asyncio.Event) -> None:
        request, check = make(number)
        limit = budget.calls(clients, number, units_per_call)
        latencies = per_client[number]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            await began.wait()
            clock = time.perf_counter
            deadline = None if budget.seconds is None else clock() + budget.seconds
            for i in range(limit):
                start = clock()
                if stop.is_set() or (deadline is not None and start >= deadline):
                    return
                status, body = await _exchange(reader, writer, request(i))
                ended = clock()
                latencies.append(ended - start)
                if deadline is not None and ended > deadline:
                    overran[number] = inside(start, ended, deadline)
                check(status, body)
        except Exception as exc:  # reported with the measurement, never swallowed
            stop.set()
            if len(result.errors) < MAX_ERRORS_KEPT:
                result.errors.append(f"{type(exc).__name__}: {exc}"[:500])
        finally:
            writer.close()

    elapsed = 0.0

    async def run() -> None:
        nonlocal elapsed
        began, stop = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(client(n, began, stop)) for n in range(clients)]
        await asyncio.sleep(0.2)  # let every connection open before the clock starts
        start, cpu = time.perf_counter(), time.thread_time()
        began.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        result.cpu_seconds = time.thread_time() - cpu

    # A thread of its own: the caller may already run an event loop.
    thread = threading.Thread(target=asyncio.run, args=(run(),), name="bench-http")
    thread.start()
    thread.join()
    for latencies in per_client:
        result.latencies.extend(latencies)
    result.calls = len(result.latencies)
    settle(result, budget, elapsed, overran)
    return result


# -- the server process --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Server:
    pid: int
    base_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(url: str, workers: int) -> Iterator[_Server]:
    """``strongroom serve`` on a free port of 127.0.0.1, stopped when the block ends."""
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "from strongroom.cli import main; main()",
        "serve",
        "--database-url", url,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_ready(process, base_url, log)
            yield _Server(process.pid, base_url)
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"strongroom serve exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"strongroom serve was not ready within {START_TIMEOUT_S} s")


# -- memory ----------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process, in KiB (empty once it is gone)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in {"VmRSS", "VmHWM"}:
                fields[name] = int(value.split()[0])
    except (OSError, ValueError):
        return {}
    return fields


def _tree_cpu_seconds(root: int) -> float:
    """User and system CPU time of the server's processes so far."""
    ticks = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime and stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's workers), from ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass(eq=False)
class _RssSampler:
    """Samples the server tree's resident memory until stopped (bounded by its stop)."""

    root: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    marks: list[tuple[str | None, int]] = field(default_factory=list)
    peaks: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0

    def __enter__(self) -> _RssSampler:
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()  # the last word, before the server stops

    def mark(self, phase: str | None) -> None:
        """A stretch of ``phase`` (``None``: of no phase) begins with the next sample."""
        self.marks.append((phase, len(self.samples)))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def _sample(self) -> None:
        total = 0
        for pid in _tree(self.root):
            status = _status(pid)
            total += status.get("VmRSS", 0)
            if "VmHWM" in status:
                self.peaks[pid] = max(self.peaks.get(pid, 0), status["VmHWM"])
        if total:
            self.samples.append((time.monotonic() - self._began, total))

    def report(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        ends = [start for _, start in self.marks[1:]] + [len(self.samples)]
        turns: dict[str, list[list[tuple[float, int]]]] = {}
        for (name, start), end in zip(self.marks, ends, strict=True):
            if name is not None and end > start:
                turns.setdefault(name, []).append(self.samples[start:end])
        # A phase's memory from its second turn on: by then every kind of request
        # has been served once, so what its first turn of the other kind added is
        # warm-up, not growth.
        phases = {
            name: _flatness([s for turn in (parts[1:] or parts) for s in turn])
            for name, parts in turns.items()
        }
        step = max(1, len(self.samples) // MAX_SAMPLES_KEPT)
        return {
            "processes": len(self.peaks),
            "peak_rss_mib": _mib(sum(self.peaks.values())),
            "peak_rss_mib_largest_process": _mib(max(self.peaks.values(), default=0)),
            **_flatness(self.samples),
            "rss_max_sampled_mib": _mib(max(total for _, total in self.samples)),
            "phases": phases,
            "samples": [[round(t, 1), _mib(total)] for t, total in self.samples[::step]],
        }


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def _flatness(samples: list[tuple[float, int]]) -> dict[str, float]:
    """RSS a tenth into ``samples`` (past warm-up) beside RSS at their end."""
    early, end = samples[len(samples) // 10][1], samples[-1][1]
    return {
        "rss_early_mib": _mib(early),
        "rss_end_mib": _mib(end),
        "rss_growth_mib": _mib(end - early),
    }
