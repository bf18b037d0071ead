"""``bench/write_footprint.py`` counts what a lone transfer writes, on each backend.

Counts, not times: the WAL frames (SQLite) and WAL bytes (PostgreSQL) of a
number of lone transfers, at the head revision and at an older one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

SCRIPT = Path(__file__).parents[2] / "bench" / "write_footprint.py"


def _footprint(backend: str, *args: str) -> float:
    command = [sys.executable, str(SCRIPT), "--backend", backend, "--transfers", "40", *args]
    done = subprocess.run(
        [*command, "--postgres-url", PG_ADMIN_URL], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (figure,) = re.findall(r": ([\d,.]+) WAL", done.stdout)
    return float(figure.replace(",", ""))


def test_sqlite_counts_fewer_frames_since_the_partial_indexes() -> None:
    """Revision 0008's partial indexes: a transfer that is not a hold and has no kind
    writes no page of either index."""
    head, before = _footprint("sqlite"), _footprint("sqlite", "--at", "0007")
    assert 10 < head < before


@pytest.mark.postgresql_only
def test_postgresql_counts_wal_bytes(backend: str) -> None:
    """Every transfer's rows, index entries and commit record reach the WAL."""
    assert _footprint(backend) > 1000
