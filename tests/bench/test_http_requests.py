"""``bench/http_requests.py`` drives the server's ASGI app in process, on each backend."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_ADMIN_URL

SCRIPT = Path(__file__).parents[2] / "bench" / "http_requests.py"


def test_requests_through_the_app_are_timed(backend: str) -> None:
    """Every request answered 201 (the script fails otherwise); its figures are reported."""
    command = [sys.executable, str(SCRIPT), "--backend", backend, "--requests", "40"]
    done = subprocess.run(
        [*command, "--concurrency", "4", "--postgres-url", PG_ADMIN_URL],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(
        rf"{backend}, 4 at a time, 40 requests: ([\d,]+)/s, ([\d,]+) µs of CPU per request "
        r"\(([\d,]+) µs on the event loop's thread\)\n",
        done.stdout,
    )
    assert found is not None, done.stdout
    rate, cpu, loop = (int(figure.replace(",", "")) for figure in found.groups())
    assert rate > 0
    assert 0 < loop <= cpu
