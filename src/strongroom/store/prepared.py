"""Hot statements: written once in SQLAlchemy Core, compiled once per dialect,
run on the raw DB-API cursor of the unit of work's connection.

SQLAlchemy's per-call work (coercing the construct, computing its cache key,
binding and processing parameters, wrapping results) costs more than the
database itself for the small statements of a transfer. The write path's
statements are fixed, so they are compiled once and executed directly, inside
the same transaction SQLAlchemy began. Values must be ready for the driver:
:func:`db_value` turns datetimes into what SQLAlchemy itself would store, so
rows written here and rows written through SQLAlchemy are identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, DateTime, Insert, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for SQLite DATETIME


def db_value(value: Any, sqlite: bool) -> Any:
    """A Python value as the driver should receive it."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: Strongroom stores UTC times only")
        if sqlite:
            return value.astimezone(UTC).strftime(_SQLITE_TIME)
        return value
    return value


def py_time(value: Any) -> datetime | None:
    """A stored time read raw, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


class Prepared:
    """One statement, compiled per dialect on first use."""

    def __init__(
        self,
        statement: ClauseElement,
        *,
        lock: bool = False,
        table: Table | None = None,
        match: Mapping[str, str] | None = None,
    ) -> None:
        """``table`` and ``match`` (bind name -> column) make an UPDATE bulk-capable:
        the bind names that are not in ``match`` name the columns it sets."""
        self.statement = statement
        self.lock = lock
        self.table = table
        self.match = dict(match or {})
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        self._times: frozenset[str] = frozenset()
        self._multi: dict[tuple[str, ...], str] = {}

    def _sql(self, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            assert isinstance(compiled, SQLCompiler)
            sql = str(compiled)
            positions = tuple(compiled.positiontup or ()) if compiled.positional else None
            if self.lock and name == "postgresql":
                sql += " FOR UPDATE"
            # Only datetime parameters need converting; the column types say which.
            self._times = frozenset(
                key for key, bind in compiled.binds.items() if _is_time(bind.type)
            )
            found = self._compiled[name] = (sql, positions)
        return found

    def _params(
        self, positions: tuple[str, ...] | None, row: Mapping[str, Any], sqlite: bool
    ) -> Any:
        times = self._times
        if positions is None:
            if not times:
                return row
            return {k: db_value(v, sqlite) if k in times else v for k, v in row.items()}
        if not sqlite:
            return tuple(row[k] for k in positions)
        return tuple(db_value(row[k], True) if k in times else row[k] for k in positions)

    def execute(self, conn: Connection, row: Mapping[str, Any]) -> Any:
        """Run once; returns the raw cursor (fetch from it for a SELECT)."""
        sql, positions = self._sql(conn)
        sqlite = conn.dialect.name == "sqlite"
        cursor = raw(conn).cursor()
        cursor.execute(sql, self._params(positions, row, sqlite))
        return cursor

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if len(rows) == 1:
            self.execute(conn, rows[0]).close()
            return
        if conn.dialect.name == "postgresql":
            if isinstance(self.statement, Insert):
                self._insert_many(conn, rows)
                return
            if self.match:
                self._update_many(conn, rows)
                return
        sql, positions = self._sql(conn)
        sqlite = conn.dialect.name == "sqlite"
        cursor = raw(conn).cursor()
        cursor.executemany(sql, [self._params(positions, row, sqlite) for row in rows])
        cursor.close()

    def _insert_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """PostgreSQL: every row in one ``INSERT ... SELECT FROM json_to_recordset(%s)``.

        psycopg's ``executemany`` sends one statement per row, even in a
        pipeline, and the server parses, plans and runs each. Here the rows
        travel as one JSON document (encoded in C by orjson) into one fixed
        statement, prepared after a few uses, whatever the number of rows.
        """
        columns = list(rows[0].keys())
        document = _document(rows)
        cursor = raw(conn).cursor()
        cursor.execute(self._recordset_sql(conn, columns), (document,))
        cursor.close()

    def _recordset_sql(self, conn: Connection, columns: list[str]) -> str:
        key = tuple(columns)
        sql = self._multi.get(key)
        if sql is None:
            assert isinstance(self.statement, Insert)
            table = self.statement.table
            kinds = ", ".join(
                f"{c} {table.c[c].type.compile(dialect=conn.dialect)}" for c in columns
            )
            names = ", ".join(columns)
            sql = (
                f"INSERT INTO {table.name} ({names}) "  # noqa: S608 - schema names
                f"SELECT {names} FROM json_to_recordset(%s::json) AS r({kinds})"
            )
            self._multi[key] = sql
        return sql

    def _update_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """PostgreSQL: every row's UPDATE in one ``UPDATE ... FROM json_to_recordset``."""
        binds = list(rows[0].keys())
        document = _document(rows)
        cursor = raw(conn).cursor()
        cursor.execute(self._update_sql(conn, binds), (document,))
        cursor.close()

    def _update_sql(self, conn: Connection, binds: list[str]) -> str:
        key = ("update", *binds)
        sql = self._multi.get(key)
        if sql is None:
            assert self.table is not None
            table = self.table
            column = {b: self.match.get(b, b) for b in binds}
            kinds = ", ".join(
                f"{b} {table.c[column[b]].type.compile(dialect=conn.dialect)}" for b in binds
            )
            sets = ", ".join(f"{b} = r.{b}" for b in binds if b not in self.match)
            where = " AND ".join(f"t.{c} = r.{b}" for b, c in self.match.items())
            sql = (
                f"UPDATE {table.name} AS t SET {sets} "  # noqa: S608 - schema names
                f"FROM json_to_recordset(%s::json) AS r({kinds}) WHERE {where}"
            )
            self._multi[key] = sql
        return sql


def _document(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array of objects (times as RFC 3339, naive ones refused)."""
    return orjson.dumps(
        [dict(row) for row in rows], default=_json_time, option=orjson.OPT_PASSTHROUGH_DATETIME
    ).decode()


def _json_time(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: Strongroom stores UTC times only")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _is_time(kind: Any) -> bool:
    impl = getattr(kind, "impl", kind)
    return isinstance(impl, DateTime) or isinstance(kind, DateTime)


def raw(conn: Connection) -> Any:
    """The driver's connection under ``conn`` (inside its current transaction)."""
    return conn.connection.dbapi_connection


def select_in(
    conn: Connection, table: str, columns: Iterable[str], where: Mapping[str, Any],
    column: str, values: Sequence[Any], *, lock: bool, order_by: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """``SELECT columns FROM table WHERE k = v ... AND column IN (values) ORDER BY``.

    Names come from the schema module, never from input; values are bound.
    """
    cursor = select_in_cursor(
        conn, table, columns, where, column, values, lock=lock, order_by=order_by
    )
    return fetch_dicts(cursor)


def select_in_cursor(
    conn: Connection, table: str, columns: Iterable[str], where: Mapping[str, Any],
    column: str, values: Sequence[Any], *, lock: bool, order_by: str,
) -> Any:  # fmt: skip
    """``select_in``, sent but not fetched (inside a pipeline, fetch after queuing more)."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    clauses = [f"{name} = {mark}" for name in where]
    clauses.append(f"{column} IN ({', '.join([mark] * len(values))})")
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {' AND '.join(clauses)} "  # noqa: S608
        f"ORDER BY {order_by}"
    )
    if lock and not sqlite:
        sql += " FOR UPDATE"
    params = [db_value(v, sqlite) for v in where.values()] + list(values)
    cursor = raw(conn).cursor()
    cursor.execute(sql, params)
    return cursor


def fetch_dicts(cursor: Any) -> list[dict[str, Any]]:
    """Every row of an executed cursor as a dict, and the cursor closed."""
    names = [d[0] for d in cursor.description]
    found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    cursor.close()
    return found


@contextmanager
def pipelined(conn: Connection) -> Iterator[bool]:
    """Send the statements of the block without waiting for each answer.

    On PostgreSQL this is psycopg's pipeline mode: one network round trip for
    the whole flush instead of one per statement; errors surface when the block
    ends. SQLite runs in-process and needs nothing. Yields whether it pipelines.
    """
    if conn.dialect.name != "postgresql":
        yield False
        return
    try:
        with raw(conn).pipeline():
            yield True
    except psycopg.Error as exc:
        # A statement's error surfaces here as the driver's own exception; wrap it
        # as SQLAlchemy does everywhere else, so that retries (deadlocks,
        # serialization failures) and error handling see the usual types.
        raise DBAPIError.instance(None, None, exc, psycopg.Error, dialect=conn.dialect) from exc
