"""What every command shares: its consoles, ``--json``, and how it fails.

A command prints for people on a terminal, and in full lines when its output
is piped (no wrapping at 80 columns). With ``--json`` it prints one JSON
document on stdout, its result or, when it fails, the error's problem document
(the same fields as the HTTP API's). A failure Strongroom expects (a
``StrongroomError``: bad input, an unknown tenant, an unreachable database)
exits with the code of the error's class and a one-line message, never a
traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from strongroom.domain.errors import StorageUnavailable, StrongroomError
from strongroom.store.database import DEFAULT_URL

P = ParamSpec("P")
R = TypeVar("R")
UNLIMITED_WIDTH = 100_000

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="STRONGROOM_DATABASE_URL",
        help="sqlite:///path.db or postgresql://user@host/db",
    ),
]
Tenant = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="The tenant's id or name [default: the database's only tenant, or 'default'].",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document, errors too.")]
__all__ = ["DEFAULT_URL", "AsJson", "DatabaseUrl", "Tenant", "command", "console", "emit"]


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): wrapped to a terminal's width, never when piped."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream, soft_wrap=True, width=None if terminal else UNLIMITED_WIDTH, stderr=stderr
    )


def emit(data: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def fail(error: StrongroomError, as_json: bool) -> NoReturn:
    """Report ``error`` (one line, or its problem document) and exit with its class's code."""
    if as_json:
        emit(error.to_problem())
    else:
        console(stderr=True).print(f"[red]error[/red] {error.code}: {error.detail}", markup=True)
    raise typer.Exit(error.exit_code)


def command(
    app: typer.Typer, name: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command whose expected failures exit as :func:`fail` says."""

    def register(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            as_json = bool(kwargs.get("as_json", False))
            try:
                return fn(*args, **kwargs)
            except StrongroomError as exc:
                fail(exc, as_json)
            except DBAPIError as exc:  # the database failed under a command: one line
                reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
                fail(StorageUnavailable(f"the database failed: {reason}"), as_json)

        app.command(name)(guarded)
        return fn

    return register
