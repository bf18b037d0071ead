"""Fixtures shared by the whole suite.

Every storage test runs on each backend chosen with ``--db`` (``sqlite``,
``postgresql`` or ``all``; by default SQLite, plus PostgreSQL when a server
answers at ``STRONGROOM_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``). Each test gets a database of
its own, cloned from a migrated template made once per session, and dropped at
the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from strongroom import Ledger
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import upgrade
from strongroom.testing import FakeClock

PG_ADMIN_URL = os.environ.get(
    "STRONGROOM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql", "all", "auto"],
        default="auto",
        help="backends to run storage tests on (auto: SQLite, and PostgreSQL if reachable)",
    )


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _backends(config: pytest.Config) -> list[str]:
    choice = config.getoption("--db")
    if choice == "sqlite":
        return ["sqlite"]
    if choice == "postgresql":
        return ["postgresql"]
    if choice == "all":
        return ["sqlite", "postgresql"]
    return ["sqlite", "postgresql"] if _pg_reachable() else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    config._strongroom_backends = _backends(config)  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str:
    return "strongroom backends: " + ", ".join(config._strongroom_backends)  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = list(metafunc.config._strongroom_backends)  # type: ignore[attr-defined]
        if metafunc.definition.get_closest_marker("postgresql_only"):
            backends = [b for b in backends if b == "postgresql"]
        metafunc.parametrize("backend", backends, ids=backends, scope="function")


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"sr_template_{os.getpid()}"
    _pg_admin(f"DROP DATABASE IF EXISTS {name}")
    _pg_admin(f"CREATE DATABASE {name}")
    engine = create_db_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database of the test's own, dropped afterwards."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"sr_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template_name}")
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def open_ledger(db_url: str, clock: FakeClock) -> Iterator[Callable[..., Ledger]]:
    """Open ledgers on the test's database (closed at the end): ``open_ledger(tenant=...)``
    creates that tenant when it is new."""
    opened: list[Ledger] = []

    def open_(tenant: str = "t1", **kwargs: object) -> Ledger:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("create_tenant", True)  # tests name the tenants they make
        ledger = Ledger.open(db_url, tenant=tenant, **kwargs)  # type: ignore[arg-type]
        opened.append(ledger)
        return ledger

    yield open_
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledger: Callable[..., Ledger]) -> Ledger:
    """A ledger of tenant ``t1`` on a fresh database, with the fake clock."""
    return open_ledger()
