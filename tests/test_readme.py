"""The README runs as written: its shell and Python blocks, in order, twice, against a
fresh server, and the second run changes nothing."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- readme-test: skip[^>]*-->\n)?```(\w+)\n(.*?)```", re.DOTALL)
README_URL = "http://127.0.0.1:8000"


def runnable_blocks() -> list[tuple[str, str]]:
    """(language, code) of every block the README's reader is meant to run."""
    found = []
    for match in BLOCK.finditer(README.read_text(encoding="utf-8")):
        skipped, language, code = match.groups()
        if not skipped and language in {"sh", "python"}:
            found.append((language, code))
    return found


def as_script(blocks: list[tuple[str, str]], base_url: str) -> str:
    """One bash script: shell blocks as they are, Python blocks through the venv's python.

    curl fails on an HTTP error, so a refused request fails the run.
    """
    parts = ["set -euo pipefail", 'curl() { command curl --fail-with-body "$@"; }']
    for language, code in blocks:
        if language == "sh":
            parts.append(code)
        else:
            parts.append(f"python - <<'PYTHON'\n{code}PYTHON")
    return "\n".join(parts).replace(README_URL, base_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``strongroom serve`` on a fresh database, from a folder with a ``.venv`` like the
    README's reader has; yields its URL and the environment of the reader's shell."""
    (tmp_path / ".venv").symlink_to(sys.prefix)
    port = _free_port()
    env = {**os.environ, "STRONGROOM_DATABASE_URL": db_url}
    env.pop("VIRTUAL_ENV", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "strongroom.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)
    try:
        yield base, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=60)


def test_the_readme_runs_twice_as_written(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Every runnable block succeeds, twice; the second run prints what the first did."""
    base, env = served
    script = as_script(runnable_blocks(), base)
    outputs = []
    for _ in range(2):
        run = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert '[5000,"credit",5000]' in outputs[0]
    assert "INSUFFICIENT_FUNDS" in outputs[0]


def test_every_block_is_run_or_says_why_not() -> None:
    """Shell and Python blocks run; any other is text, or carries its reason to be skipped."""
    text = README.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        skipped, language, _ = match.groups()
        assert language in {"sh", "python", "text"}, language
        if skipped:
            assert re.search(r"skip \(.+\)", skipped), skipped
