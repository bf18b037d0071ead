"""Connecting to SQLite or PostgreSQL, and the differences between them.

SQLite runs in WAL mode with ``synchronous=FULL`` (a write is acknowledged only
once it is durable) and a long busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade. The WAL is
checkpointed into the database every :data:`SQLITE_WAL_AUTOCHECKPOINT_PAGES`
pages rather than SQLite's 1,000. PostgreSQL
runs through psycopg 3 at READ COMMITTED with ``synchronous_commit=on``; writers
of one tenant serialise on the row of its chain head.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from strongroom.domain.errors import StorageUnavailable, ValidationError
from strongroom.store.prepared import driver_errors

DEFAULT_URL = "sqlite:///./strongroom.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
"""WAL pages after which a commit copies them into the database file (about
40 MiB of WAL at 4 KiB pages). A transfer writes some twenty pages, mostly the
same hot ones (the chain head, index roots, the last leaf of each table): at
SQLite's default of 1,000 pages one commit in fifty also ran a checkpoint,
copying the same pages again and again. Ten times fewer checkpoints, each
copying the latest version of a page once: a lone write's mean latency 5-10%
lower, its p99 a third; the WAL file keeps its size after
a checkpoint and is reused from the start."""

# PostgreSQL SQLSTATEs after which a whole unit of work can safely be retried.
_RETRYABLE_PG = {"40001", "40P01", "55P03"}
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}
"""SQLite's ways to begin a transaction (the ``sqlite_begin`` execution option)."""


def normalize_url(url: str) -> str:
    """Map the user-facing URL schemes onto SQLAlchemy drivers."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with its own wording
        raise ValidationError(f"invalid database URL: {exc}", loc=("database_url",)) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    elif backend in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValidationError(
            "the database URL must start with sqlite:/// or postgresql://",
            loc=("database_url",),
        )
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for ``url`` with Strongroom's settings for its backend.

    On PostgreSQL the pool opens up to ``pool_size`` connections, as they are first
    needed, and keeps every one it opens. An overflow beyond a kept core would be
    closed whenever it came back to a full pool: a load that kept more requests in
    flight than the core opened and closed a PostgreSQL backend, a process, for
    many of its requests.
    """
    url = normalize_url(url)
    engine = _sqlite_engine(url) if url.startswith("sqlite") else _postgresql_engine(url, pool_size)
    event.listen(engine, "handle_error", _unreachable)
    return engine


def _unreachable(context: ExceptionContext) -> None:
    """A connection that cannot be opened raises STORAGE_UNAVAILABLE, in one line.

    Only failures to connect: an error on an open connection (a busy SQLite
    file, a deadlock, a dropped connection) stays a DBAPIError, for the unit of
    work's retry to judge.
    """
    if context.connection is not None or context.engine is None:
        return
    reason = str(context.original_exception).strip().splitlines() or ["no reason given"]
    where = context.engine.url.render_as_string(hide_password=True)
    raise StorageUnavailable(f"cannot open the database {where}: {reason[0].strip()}") from None


def _postgresql_engine(url: str, pool_size: int) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        # No pre-ping (a round trip per transaction): a connection found dead
        # is invalidated by SQLAlchemy and the unit of work retried instead.
        pool_recycle=1800,
        isolation_level="READ COMMITTED",
        connect_args={"options": "-c synchronous_commit=on -c timezone=UTC"},
    )


def _sqlite_engine(url: str) -> Engine:
    memory = make_url(url).database in {None, "", ":memory:"}
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver's connection: a whole statement execution through
        # SQLAlchemy cost more than the rest of a lone write's start.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        sql = _BEGIN[mode]
        with driver_errors(conn, sql):
            conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]

    return engine


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def write_connection(engine: Engine) -> Connection:
    """A connection for writes: its transactions take SQLite's write lock when they
    begin (``BEGIN IMMEDIATE``), so they never fail to upgrade a read lock later."""
    return engine.connect().execution_options(sqlite_begin="IMMEDIATE")


def read_connection(engine: Engine) -> Connection:
    """A connection for a single-statement read: in autocommit on PostgreSQL, so no
    BEGIN and ROLLBACK go around it (a round trip fewer); as usual on SQLite."""
    if is_sqlite(engine):
        return engine.connect()
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed unit of work may be retried from the start.

    Deadlocks and serialization failures on PostgreSQL, a busy SQLite file, a
    connection the server had closed, and a unique violation on an idempotency
    key (a concurrent duplicate committed first: the retry finds its result).
    """
    if isinstance(exc, IntegrityError):
        text = str(exc.orig)
        return "idempotency_keys" in text
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True  # the server closed the connection before anything committed
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_PG:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False
