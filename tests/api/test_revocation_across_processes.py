"""A key revoked through one ``strongroom serve`` fails on another within 0.1 s, under load.

API.md: ``DELETE /v1/api-keys/{id}`` revokes at once in the server process that
answered, within 0.1 s in every other server process. Two ``strongroom serve``
processes on two ports share one PostgreSQL database. Two ports rather than
``--workers 2`` on one: with one socket shared by workers, the kernel picks the
worker that accepts a connection, and the test could not tell whether a request
went to the process that revoked (where the key fails at once anyway) or to the
other, which is the case the promise is about.

Client threads hammer both processes with the doomed key, and the revoking one
with another key too, before and after the revocation. Every request to the
other process that began more than 0.1 s after the DELETE's response came back
must have got 401; every request to the revoking process that began after it.
The only timing in the assertions is the contract's bound; the cache's
design (see strongroom.access.cache) is what makes it hold on a loaded machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from strongroom.access.cache import REVOCATION_BOUND_SECONDS
from tests.api.conftest import ADMIN_TOKEN, _free_port

THERE_THREADS = 5
"""Threads sending requests with the doomed key to the other process."""
HERE_THREADS = 2
"""Threads sending requests with the doomed key to the process that revokes it."""
BACKGROUND_THREADS = 1
"""Threads keeping the revoking process busy with another key."""
BEFORE_SECONDS = 1.0
AFTER_SECONDS = 1.5
"""How long the load runs before the DELETE is sent, and after its response."""


@dataclass
class Serve:
    """One ``strongroom serve`` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def client(self, key: str, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def _serve(db_url: str, log: Path) -> Serve:
    port = _free_port()
    env = {**os.environ, "STRONGROOM_ADMIN_TOKEN": ADMIN_TOKEN}
    command = [sys.executable, "-m", "strongroom.cli", "serve"]
    command += ["--database-url", db_url, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Serve(process, f"http://127.0.0.1:{port}", log)


def _wait_ready(server: Serve, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"strongroom serve exited:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"strongroom serve was not ready:\n{server.log.read_text()}")
        time.sleep(0.05)


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[tuple[Serve, Serve]]:
    """Two ``strongroom serve`` processes on one database, each on a port of its own."""
    servers = [_serve(db_url, tmp_path / "here.log"), _serve(db_url, tmp_path / "there.log")]
    try:
        for server in servers:
            _wait_ready(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=30)


@dataclass
class Sent:
    """Every request of one load thread: when it began (monotonic) and its status."""

    requests: list[tuple[float, int]] = field(default_factory=list)


def _hammer(server: Serve, key: str, stop: threading.Event, sent: Sent) -> None:
    with server.client(key) as client:
        while not stop.is_set():
            began = time.monotonic()
            sent.requests.append((began, client.get("/v1/accounts").status_code))


def _cache_lookups(server: Serve) -> dict[str, float]:
    """The server's key cache lookups so far, by result (hit, miss, stale)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    found = re.findall(
        r'^strongroom_api_key_cache_lookups_total\{result="(\w+)"\} (\S+)$', text, re.M
    )
    return {result: float(count) for result, count in found}


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_a_key_revoked_through_one_server_fails_on_the_other_within_the_bound(
    two_servers: tuple[Serve, Serve], record_property: Callable[[str, object], None]
) -> None:
    """Under load, a revoked key fails at once where revoked, within 0.1 s elsewhere."""
    here, there = two_servers
    with here.client(ADMIN_TOKEN) as platform:
        created = platform.post("/v1/tenants", json={"name": "revocation"})
    assert created.status_code == 201, created.text
    admin_key = created.json()["api_key"]
    with here.client(admin_key) as admin:
        doomed = admin.post("/v1/api-keys", json={"name": "doomed", "scopes": ["ledger:read"]})
        assert doomed.status_code == 201, doomed.text
        key_id, key = doomed.json()["id"], doomed.json()["key"]
        with there.client(key) as warm:
            assert warm.get("/v1/accounts").status_code == 200  # now in the cache there
        before = _cache_lookups(there)

        stop = threading.Event()
        load = [Sent() for _ in range(THERE_THREADS)]
        local = [Sent() for _ in range(HERE_THREADS)]
        threads = [
            *(threading.Thread(target=_hammer, args=(there, key, stop, s)) for s in load),
            *(threading.Thread(target=_hammer, args=(here, key, stop, s)) for s in local),
            *(
                threading.Thread(target=_hammer, args=(here, admin_key, stop, Sent()))
                for _ in range(BACKGROUND_THREADS)
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(BEFORE_SECONDS)
            revoked = admin.delete(f"/v1/api-keys/{key_id}")
            answered = time.monotonic()
            time.sleep(AFTER_SECONDS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    assert revoked.status_code == 200, revoked.text

    requests = [request for sent in load for request in sent.requests]
    assert {status for _, status in requests} <= {200, 401}
    worked = [began - answered for began, status in requests if status == 200]
    bound = answered + REVOCATION_BOUND_SECONDS
    late = [(began - answered, status) for began, status in requests if began > bound]
    lookups = {result: n - before.get(result, 0) for result, n in _cache_lookups(there).items()}
    record_property("latest_200_after_delete_seconds", max(worked))
    record_property("cache_lookups", lookups)
    print(
        f"\n{len(requests)} requests; the latest that still got 200 began "
        f"{max(worked):+.4f} s after the DELETE's response; cache lookups there: {lookups}"
    )
    assert late, "no request began after the bound: the check would be empty"
    assert min(worked) < 0  # the key worked under load before the revocation ...
    assert lookups["hit"] > 0  # ... answered from the cache there
    assert [request for request in late if request[1] != 401] == []
    at_once = [
        (began - answered, status)
        for sent in local
        for began, status in sent.requests
        if began > answered
    ]
    assert at_once, "no request to the revoking process began after the DELETE's response"
    assert [request for request in at_once if request[1] != 401] == []
