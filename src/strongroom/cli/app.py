"""``strongroom serve | worker | migrate | verify | tenants | keys | version | bench``.

Every command takes ``--database-url`` (or ``STRONGROOM_DATABASE_URL``) and
``--json``; ``--tenant`` takes a tenant's id or name and defaults to the
database's only tenant. Errors exit with the code of their class (see
``strongroom.domain.errors``) and one line (``--json``: the problem document);
``verify`` exits 0 only when the chain and the balances check out, 1 when they
do not.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from strongroom._version import __version__
from strongroom.access.bootstrap import banner, create_first_tenant
from strongroom.access.service import Access
from strongroom.api.settings import AWAIT_DATABASE_SECONDS
from strongroom.cli import integrity, tenants
from strongroom.cli.output import DEFAULT_URL, AsJson, DatabaseUrl, Tenant, command, console, emit
from strongroom.domain.errors import StorageUnavailable, ValidationError
from strongroom.engine.ledger import Ledger
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import current_revision, upgrade

app = typer.Typer(
    name="strongroom",
    help="Strongroom: a double-entry ledger server and library.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@command(app)
def version(as_json: AsJson = False) -> None:
    """Print Strongroom's version."""
    if as_json:
        emit({"version": __version__})
    else:
        console().print(f"strongroom {__version__}")


@command(app)
def migrate(database_url: DatabaseUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Create or upgrade the database schema to the newest revision."""
    engine = create_db_engine(database_url)
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    if as_json:
        emit({"from": before, "to": after})
    elif before == after:
        console().print(f"schema is current (revision {after})")
    else:
        console().print(f"migrated from {before or 'empty'} to revision {after}")


@command(app)
def verify(
    database_url: DatabaseUrl = DEFAULT_URL,
    tenant: Tenant = None,
    as_json: AsJson = False,
) -> None:
    """Check the hash chain and every account's balance against a replay of the journal.

    Exits 0 when both check out, 1 when they do not (naming the first bad sequence).
    """
    with Ledger.open(
        database_url, tenant=tenant, migrate=False, create_tenant=False, group_commit=False
    ) as ledger:
        report = ledger.verify()
    if as_json:
        emit({**report.to_dict(), "tenant": ledger.tenant, "head_seq": report.head_seq})
    else:
        _print_report(ledger.tenant, report.to_dict(), report.head_seq)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(tenant: str, report: dict[str, Any], head_seq: int) -> None:
    out = console()
    if report["ok"]:
        out.print(
            f"[green]ok[/green] tenant {tenant}: {report['checked']} entries, "
            f"chain intact up to seq {head_seq}, balances match the journal"
        )
        return
    if report["first_bad_seq"] is not None:
        out.print(f"[red]chain broken[/red] at seq {report['first_bad_seq']}")
    if report["drift"]:
        table = Table("account", "stored", "replayed", title="balance drift")
        for d in report["drift"]:
            table.add_row(d["account"], json.dumps(d["stored"]), json.dumps(d["replayed"]))
        out.print(table)


tenants.register(app)
integrity.register(app)


@command(app)
def serve(
    database_url: DatabaseUrl = DEFAULT_URL,
    host: Annotated[str, typer.Option(envvar="STRONGROOM_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="STRONGROOM_PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL only; SQLite runs one).")
    ] = 1,
    admin_token: Annotated[
        str | None, typer.Option(envvar="STRONGROOM_ADMIN_TOKEN", help="Platform admin token.")
    ] = None,
    run_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            envvar="STRONGROOM_WORKER",
            help="Run the event relay and integrity jobs in the server "
            "(--no-worker when `strongroom worker` processes do it).",
        ),
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Migrate, then serve the HTTP API. On an empty database, create a first tenant
    and print its API key once. The server also relays events (webhooks, NATS) and
    runs the integrity jobs, unless --no-worker.

    While the database does not answer, the server listens all the same: /readyz
    answers 503 and the database is tried again every few seconds.
    """
    import uvicorn

    if workers > 1 and database_url.startswith("sqlite"):
        raise ValidationError("--workers > 1 needs PostgreSQL", loc=("workers",))
    base = f"http://{host}:{port}"
    first, unavailable = _prepare(database_url)
    os.environ.update(
        STRONGROOM_DATABASE_URL=database_url,
        STRONGROOM_HOST=host,
        STRONGROOM_PORT=str(port),
        STRONGROOM_WORKER="true" if run_worker else "false",
        STRONGROOM_TUNE_GC="true",  # each worker is a process of its own
        # The database did not answer: each server process migrates it (and makes
        # the first tenant of an empty one) once it does.
        STRONGROOM_AWAIT_DATABASE="true" if unavailable else "false",
    )
    if admin_token:
        os.environ["STRONGROOM_ADMIN_TOKEN"] = admin_token
    _announce(base, first, unavailable, as_json)
    if workers > 1:
        _fork_workers()
    uvicorn.run(
        "strongroom.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=_log_config(),
        access_log=False,
        http="strongroom.api.protocol:ProblemHttpToolsProtocol",  # 400s as problem documents
    )


def _prepare(database_url: str) -> tuple[tuple[Any, str] | None, StorageUnavailable | None]:
    """Migrate and make the first tenant of an empty database; or say why not now."""
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        return create_first_tenant(Access(engine)), None
    except StorageUnavailable as exc:
        return None, exc
    finally:
        engine.dispose()


def _announce(
    base: str,
    first: tuple[Any, str] | None,
    unavailable: StorageUnavailable | None,
    as_json: bool,
) -> None:
    if as_json:
        body: dict[str, Any] = {"version": __version__, "url": base, "docs": f"{base}/docs"}
        body["database"] = "unavailable" if unavailable else "ok"
        if first is not None:
            body["tenant"], body["api_key"] = first[0].to_dict(), first[1]
        emit(body)
        return
    out = console()
    out.print(f"Strongroom {__version__} listening on [bold]{base}[/bold] (docs: {base}/docs)")
    if unavailable is not None:
        console(stderr=True).print(
            f"[yellow]waiting for the database[/yellow]: {unavailable.detail}; "
            "/readyz answers 503 until it answers, tried again every "
            f"{AWAIT_DATABASE_SECONDS:g} s",
            markup=True,
        )
    if first is not None:
        out.print(banner(base, *first), markup=False, highlight=False)


def _fork_workers() -> None:
    """Have uvicorn fork its workers from this process, the server imported once, here.

    uvicorn starts each worker with multiprocessing's spawn: a new interpreter that
    imports the whole server again, about a second of CPU per worker, all of it
    between a restart and /readyz. Forked, a worker starts with every module
    imported and only builds the app and runs its lifespan. Forking is safe here:
    this process runs no thread, and the engine that migrated the database is
    disposed. uvicorn has no option for it, so this replaces the ``spawn``
    context its ``_subprocess`` module uses (pinned in requirements/; a test
    checks the workers are forked).
    """
    import multiprocessing

    import uvicorn._subprocess

    import strongroom.api.app  # noqa: F401  (imported once, for every worker)

    if hasattr(uvicorn._subprocess, "spawn"):
        uvicorn._subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with Strongroom's own loggers beside its own."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["strongroom"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@command(app)
def worker(
    database_url: DatabaseUrl = DEFAULT_URL,
    nats_url: Annotated[
        str | None,
        typer.Option(envvar="STRONGROOM_NATS_URL", help="Publish events to this NATS JetStream."),
    ] = None,
    webhook_allowed_hosts: Annotated[
        str,
        typer.Option(
            envvar="STRONGROOM_WEBHOOK_ALLOWED_HOSTS",
            help="Hosts or CIDRs webhooks may reach although loopback or private.",
        ),
    ] = "",
    once: Annotated[
        bool, typer.Option("--once", help="Do the work there is now, then exit.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Relay outbox events to webhook endpoints and NATS, and run the integrity jobs.

    Runs until SIGTERM or SIGINT. Any number of workers can share a PostgreSQL
    database; with SQLite, `serve` already runs one. Other settings come from the
    STRONGROOM_* environment (see docs/events.md).
    """
    from strongroom.cli.worker import run_worker

    done = run_worker(
        database_url=database_url,
        nats_url=nats_url,
        webhook_allowed_hosts=webhook_allowed_hosts,
        once=once,
    )
    if once and as_json:
        emit({"done": done})
    elif once:
        console().print(f"worker: {done} items of work done")


@command(app)
def bench(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            help="single, concurrent, hot, batch, holds or http; repeat it (all).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[str, typer.Option(help="sqlite, postgresql or all.")] = "all",
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds per measurement [default: 10].", show_default=False),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="Transfers per measurement, instead of a duration.")
    ] = None,
    clients: Annotated[int, typer.Option(help="HTTP clients of the http scenario.")] = 64,
    accounts: Annotated[int, typer.Option(help="Accounts the transfers spread over.")] = 1000,
    group_commit: Annotated[bool, typer.Option(help="Ledger.open(group_commit=...).")] = True,
    verify_books: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify the books after each scenario.")
    ] = True,
    postgres_url: Annotated[
        str,
        typer.Option(envvar="STRONGROOM_BENCH_POSTGRES_URL", help="Admin URL: a database per run."),
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    chart: Annotated[
        Path | None, typer.Option(help="Write a PNG chart (needs matplotlib).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Measure transfers per second beside a hand-written SQL baseline, on fresh databases.

    See bench/README.md. Exits 1 when a scenario failed or left books that do not verify.
    """
    from strongroom.bench.command import run_bench
    from strongroom.bench.runner import BenchOptions

    options = BenchOptions(
        scenarios=tuple(scenario or ()),
        backend=backend, duration=duration, n=n, clients=clients, accounts=accounts,
        group_commit=group_commit, verify=verify_books, postgres_url=postgres_url,
    )  # fmt: skip
    code = run_bench(
        options, as_json=as_json, chart=chart, console=console(), err_console=console(stderr=True)
    )
    raise typer.Exit(code)


def main() -> None:
    app()
