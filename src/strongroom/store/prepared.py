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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Insert, Table
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


def db_value(value: Any, sqlite: bool) -> Any:
    """A Python value as the driver should receive it."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: Strongroom stores UTC times only")
        return _sqlite_time(value) if sqlite else value
    return value


@lru_cache(maxsize=256)
def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's storage of a SQLite DATETIME: UTC, zero-padded, microseconds.

    Cached: the rows of a unit of work mostly carry the same few times. Aware
    times compare and hash by their instant, which is all the string depends on.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def text_array(values: Iterable[str]) -> str:
    """``values`` as one PostgreSQL array literal, each element quoted (``"`` and ``\\``
    escaped), for a parameter cast to an array type in the statement: ``{"a","b"}``.

    psycopg adapts a list element by element in Python, several tens of
    microseconds for a handful of ids; a string goes to the server as it is.
    """
    return "{" + ",".join(_array_element(value) for value in values) + "}"


def _array_element(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"an array element here is text, not {type(value).__name__}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def py_time(value: Any) -> datetime | None:
    """A stored time read raw, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


class _Compiled:
    """A statement compiled for one dialect, and how a row becomes its parameters."""

    __slots__ = ("params", "sql")

    def __init__(
        self, sql: str, positions: tuple[str, ...] | None, times: frozenset[str], sqlite: bool
    ) -> None:
        self.sql = sql
        self.params = _parameters(positions, times, sqlite)


def _parameters(
    positions: tuple[str, ...] | None, times: frozenset[str], sqlite: bool
) -> Callable[[Mapping[str, Any]], Any]:
    """A row (bind name -> value) to the driver's parameters for a statement whose
    positional binds are ``positions`` (``None``: named) and time binds ``times``.

    Positional values are taken by one ``itemgetter`` (in C), then only the time
    values are converted: a row of a dozen columns costs one call, not a dozen.
    """
    if positions is None:
        if not times:
            return lambda row: row
        return lambda row: {k: db_value(v, sqlite) if k in times else v for k, v in row.items()}
    if not positions:
        return lambda row: ()
    at = [i for i, key in enumerate(positions) if key in times]
    if len(positions) == 1:  # itemgetter of one key gives the value, not a tuple
        (key,) = positions
        if at:
            return lambda row: (db_value(row[key], sqlite),)
        return lambda row: (row[key],)
    take = itemgetter(*positions)
    if not at:
        return take

    def convert(row: Mapping[str, Any]) -> Any:
        values = list(take(row))
        for i in at:
            values[i] = db_value(values[i], sqlite)
        return values

    return convert


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
        self._compiled: dict[str, _Compiled] = {}
        self._multi: dict[tuple[object, ...], str] = {}

    def _sql(self, conn: Connection) -> _Compiled:
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            assert isinstance(compiled, SQLCompiler)
            sql = str(compiled)
            if self.lock and name == "postgresql":
                sql += " FOR UPDATE"
            # Only datetime parameters need converting; the column types say which.
            times = frozenset(key for key, bind in compiled.binds.items() if _is_time(bind.type))
            positions = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = self._compiled[name] = _Compiled(sql, positions, times, name == "sqlite")
        return found

    def execute(self, conn: Connection, row: Mapping[str, Any]) -> Any:
        """Run once; returns the raw cursor (fetch from it for a SELECT)."""
        compiled = self._sql(conn)
        return run(conn, compiled.sql, compiled.params(row))

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if len(rows) == 1:
            self.execute(conn, rows[0]).close()
            return
        if conn.dialect.name == "postgresql" and (isinstance(self.statement, Insert) or self.match):
            run(conn, *self.bulk(conn, rows)).close()
            return
        compiled = self._sql(conn)
        params = [compiled.params(row) for row in rows]
        run(conn, compiled.sql, params, many=True).close()

    def bulk(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        """PostgreSQL: one statement that writes every row, and its parameters.

        psycopg's ``executemany`` sends one statement per row, even in a
        pipeline, and the server parses, plans and runs each. Here the rows
        travel as one JSON document (encoded in C by orjson) into one fixed
        statement, prepared after a few uses, whatever the number of rows: an
        ``INSERT ... SELECT FROM json_to_recordset``, or an ``UPDATE ... FROM``
        it for a matched UPDATE.
        """
        names = list(rows[0].keys())
        if isinstance(self.statement, Insert):
            return self._recordset_sql(conn, names), [_document(rows)]
        if self.match:
            keys = [list({row[bind]: None for row in rows}) for bind in self.match]
            single = tuple(len(values) == 1 for values in keys)
            params = [v[0] if one else text_array(v) for v, one in zip(keys, single, strict=True)]
            return self._update_sql(conn, names, single), [_document(rows), *params]
        raise TypeError("only an INSERT or a matched UPDATE writes many rows at once")

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

    def _update_sql(self, conn: Connection, binds: list[str], single: tuple[bool, ...]) -> str:
        """``UPDATE ... FROM json_to_recordset`` joined on the matched columns.

        The planner believes a recordset holds 100 rows, so on a table of a few
        thousand it would join by scanning the whole table. Each matched column
        is therefore also compared with the rows' own values (``=`` the one
        value all rows share, the tenant, or ``= ANY`` the array of them, sent as
        one text literal: :func:`text_array`), which the primary key answers: the
        rows to update are found by key. Matched columns are text.
        """
        key = ("update", *binds, *single)
        sql = self._multi.get(key)
        if sql is None:
            assert self.table is not None
            table = self.table
            column = {b: self.match.get(b, b) for b in binds}
            kinds = ", ".join(
                f"{b} {table.c[column[b]].type.compile(dialect=conn.dialect)}" for b in binds
            )
            sets = ", ".join(f"{b} = r.{b}" for b in binds if b not in self.match)
            where = " AND ".join(
                [f"t.{c} = r.{b}" for b, c in self.match.items()]
                + [
                    f"t.{c} = %s" if one else f"t.{c} = ANY(%s::text[])"
                    for c, one in zip(self.match.values(), single, strict=True)
                ]
            )
            sql = (
                f"UPDATE {table.name} AS t SET {sets} "  # noqa: S608 - schema names
                f"FROM json_to_recordset(%s::json) AS r({kinds}) WHERE {where}"
            )
            self._multi[key] = sql
        return sql


def execute_together(
    conn: Connection, parts: Sequence[tuple[Prepared, Sequence[Mapping[str, Any]]]]
) -> None:
    """Write each part's rows, in order; on PostgreSQL in one statement.

    The parts become the data-modifying ``WITH`` queries of one statement, each
    reading its rows from one JSON document: PostgreSQL parses, plans and runs
    one statement where it ran one per part, and the driver's per-statement
    work is paid once. Every part runs to completion on the statement's one
    snapshot, so no part may depend on another's effect (two parts never touch
    the same row). Triggers and constraint checks behave as for separate
    statements; an error in any part fails the statement as a whole.
    """
    parts = [(prepared, rows) for prepared, rows in parts if rows]
    if conn.dialect.name != "postgresql" or len(parts) <= 1:
        for prepared, rows in parts:
            prepared.execute_many(conn, rows)
        return
    statements = [prepared.bulk(conn, rows) for prepared, rows in parts]
    *first, (last, _) = statements
    withs = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(first))
    run(conn, f"WITH {withs} {last}", [p for _, params in statements for p in params]).close()


def _document(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array of objects (times as RFC 3339, naive ones refused)."""
    if not isinstance(rows, list | tuple):
        rows = list(rows)
    return orjson.dumps(rows, default=_json_value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _json_value(value: Any) -> Any:
    """What orjson does not write itself: a time (RFC 3339; a naive one is refused),
    or a row given as another kind of mapping than a dict."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: Strongroom stores UTC times only")
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _is_time(kind: Any) -> bool:
    impl = getattr(kind, "impl", kind)
    return isinstance(impl, DateTime) or isinstance(kind, DateTime)


def raw(conn: Connection) -> Any:
    """The driver's connection under ``conn`` (inside its current transaction)."""
    return conn.connection.dbapi_connection


def run(
    conn: Connection, sql: str, params: Any, *, many: bool = False, prepare: bool | None = None
) -> Any:
    """Execute on a new driver cursor of ``conn`` and return the cursor.

    ``prepare=False`` (psycopg) sends the statement unnamed, so PostgreSQL plans
    every execution for its values rather than settling on a cached generic plan.
    The driver's errors come out as SQLAlchemy's, as for any statement SQLAlchemy
    runs itself (:func:`driver_errors`).
    """
    cursor = raw(conn).cursor()
    try:  # what driver_errors does, without a context manager per statement
        if many:
            cursor.executemany(sql, params)
        elif prepare is None:
            cursor.execute(sql, params)
        else:
            cursor.execute(sql, params, prepare=prepare)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, exc, sql, params, cursor) from exc
    return cursor


@contextmanager
def driver_errors(
    conn: Connection, sql: str | None = None, params: Any = None, cursor: Any = None
) -> Iterator[None]:
    """Turn the driver's exceptions raised in the block into SQLAlchemy's.

    So retries (deadlocks, serialization failures, a busy file) and error handling
    see the usual types; and, as SQLAlchemy does, a connection the server closed
    is invalidated (the pool drops it) and the error says so, which makes the
    unit of work retryable on a fresh connection.
    """
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, exc, sql, params, cursor) from exc


def _translated(
    conn: Connection, exc: Any, sql: str | None, params: Any, cursor: Any
) -> StatementError:
    """The driver's error ``exc`` as SQLAlchemy's (see :func:`driver_errors`)."""
    if cursor is not None:
        with suppress(Exception):
            cursor.close()
    lost = conn.dialect.is_disconnect(exc, raw(conn), cursor)
    if lost:
        conn.invalidate(exc)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    error: StatementError = DBAPIError.instance(
        sql, params, exc, dbapi_error, connection_invalidated=lost, dialect=conn.dialect
    )
    return error


def select_in(
    conn: Connection, table: str, columns: Sequence[str], where: Mapping[str, Any],
    column: str, values: Sequence[Any], *, lock: bool, order_by: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """``SELECT columns FROM table WHERE k = v ... AND column IN (values) ORDER BY``,
    each row as a dict of ``columns``.

    Names come from the schema module, never from input; values are bound.
    """
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
    cursor = run(conn, sql, params)
    # The columns are known: the driver's own description costs more than the rows.
    found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
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
    # A statement's error surfaces when the pipeline ends, as the driver's own.
    with driver_errors(conn), raw(conn).pipeline():
        yield True
