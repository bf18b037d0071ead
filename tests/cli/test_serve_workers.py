"""``strongroom serve --workers N`` forks its workers: the server is imported once, by serve.

Spawned, each worker would be a new interpreter importing the whole server again
(about a second of CPU each), all of it between a restart and /readyz.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import _free_port

PROC = Path("/proc")


def _children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _command_line(pid: int) -> bytes:
    return (PROC / str(pid) / "cmdline").read_bytes()


@pytest.mark.postgresql_only
@pytest.mark.skipif(not PROC.is_dir(), reason="reads the processes from /proc")
def test_serve_forks_its_workers(db_url: str, tmp_path: Path) -> None:
    """Each worker runs serve's own command line (forked), none a fresh interpreter (spawned)."""
    port = _free_port()
    command = [sys.executable, "-m", "strongroom.cli", "serve", "--database-url", db_url]
    command += ["--port", str(port), "--workers", "2", "--no-worker"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert serve.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        workers = _children(serve.pid)
        assert len(workers) == 2  # spawning also starts multiprocessing's resource tracker
        assert [_command_line(pid) for pid in workers] == [_command_line(serve.pid)] * 2
    finally:
        serve.terminate()
        serve.wait(timeout=30)
