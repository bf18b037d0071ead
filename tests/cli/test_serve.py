"""``strongroom serve`` on a database that does not answer yet: it listens, /readyz
answers 503, and it migrates and makes the first tenant once the database answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import _pg_admin, _pg_url

DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def later(backend: str, tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A database URL that does not answer yet, and what makes it answer."""
    if backend == "sqlite":
        folder = tmp_path / "not-yet"
        yield f"sqlite:///{folder / 'ledger.db'}", folder.mkdir
        return
    name = f"sr_later_{uuid.uuid4().hex[:12]}"
    try:
        yield _pg_url(name), lambda: _pg_admin(f"CREATE DATABASE {name}")
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _readyz(base: str) -> int | None:
    try:
        return httpx.get(f"{base}/readyz", timeout=5).status_code
    except httpx.TransportError:
        return None


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def test_serve_waits_for_its_database(later: tuple[str, Callable[[], None]]) -> None:
    """503 while the database is away, one line saying so, then ready with a first key."""
    url, make_it_answer = later
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STRONGROOM_DATABASE_URL": url, "STRONGROOM_WORKER": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "strongroom.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _until(lambda: _readyz(base) is not None, "the server listens")
        assert _readyz(base) == 503
        make_it_answer()
        _until(lambda: _readyz(base) == 200, "the server is ready")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "waiting for the database" in line]) == 1
    assert "its API key, shown once" in out
    assert out.count("sr_") >= 2  # the key, and the curl line that uses it
