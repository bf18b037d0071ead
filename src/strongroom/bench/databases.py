"""A fresh database per scenario run, dropped after it; and what machine this is.

On SQLite a new file in a temporary folder; on PostgreSQL a new database
(``sr_bench_<random>``) created through the admin URL and dropped with
``WITH (FORCE)`` at the end, even when the scenario failed.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from strongroom._version import __version__
from strongroom.domain.errors import StorageUnavailable

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class Database:
    """One fresh database: ``url`` for Strongroom, and where the baseline connects."""

    backend: str
    url: str
    sqlite_path: Path | None = None


def postgres_reachable(admin_url: str) -> bool:
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def fresh_database(backend: str, admin_url: str) -> Iterator[Database]:
    """A new, empty database of ``backend``, removed when the block ends."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sr-bench-") as folder:
            path = Path(folder) / "bench.db"
            yield Database("sqlite", f"sqlite:///{path}", sqlite_path=path)
        return
    name = f"sr_bench_{uuid.uuid4().hex[:12]}"
    _admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield Database("postgresql", url)
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        _admin(admin_url, drop)


def _admin(admin_url: str, statement: sql.Composed) -> None:
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)
    except psycopg.OperationalError as exc:
        raise StorageUnavailable(f"PostgreSQL at the admin URL does not answer: {exc}") from exc


def machine(backends: list[str], admin_url: str) -> dict[str, Any]:
    """The facts a reader needs to place the figures: cores, memory, versions."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": None,
        "strongroom": __version__,
        "commit": _git_commit(),
    }
    if "postgresql" in backends:
        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = None if row is None else str(row[0]).split()[0]
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    """The commit of the checkout being measured (``-dirty`` with uncommitted changes)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607 (git from PATH is the point)
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
