"""``strongroom serve | worker | migrate | verify | tenants create | version | bench``.

Every command takes ``--database-url`` (or ``STRONGROOM_DATABASE_URL``); commands
that print data take ``--json``. Errors exit with the code of their class
(see ``strongroom.domain.errors``); ``verify`` exits 0 only when the chain and
the balances check out, 1 when they do not.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from strongroom._version import __version__
from strongroom.access.service import Access
from strongroom.cli import integrity
from strongroom.domain.errors import StrongroomError, ValidationError
from strongroom.engine.ledger import Ledger
from strongroom.store.database import DEFAULT_URL, create_db_engine
from strongroom.store.migrate import current_revision, upgrade

app = typer.Typer(
    name="strongroom",
    help="Strongroom: a double-entry ledger server and library.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="STRONGROOM_DATABASE_URL",
        help="sqlite:///path.db or postgresql://user@host/db",
    ),
]
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant whose ledger to use.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _fail(exc: StrongroomError) -> None:
    err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
    raise typer.Exit(exc.exit_code)


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")


@app.command()
def version(as_json: AsJson = False) -> None:
    """Print Strongroom's version."""
    if as_json:
        _emit({"version": __version__})
    else:
        console.print(f"strongroom {__version__}")


@app.command()
def migrate(database_url: DatabaseUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Create or upgrade the database schema to the newest revision."""
    try:
        engine = create_db_engine(database_url)
    except StrongroomError as exc:
        _fail(exc)
        return
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    if as_json:
        _emit({"from": before, "to": after})
    elif before == after:
        console.print(f"schema is current (revision {after})")
    else:
        console.print(f"migrated from {before or 'empty'} to revision {after}")


@app.command()
def verify(
    database_url: DatabaseUrl = DEFAULT_URL,
    tenant: Tenant = "default",
    as_json: AsJson = False,
) -> None:
    """Check the hash chain and every account's balance against a replay of the journal.

    Exits 0 when both check out, 1 when they do not (naming the first bad sequence).
    """
    try:
        with Ledger.open(database_url, tenant=tenant, migrate=False, create=False) as ledger:
            report = ledger.verify()
    except StrongroomError as exc:
        _fail(exc)
        return
    if as_json:
        _emit({**report.to_dict(), "tenant": tenant, "head_seq": report.head_seq})
    else:
        _print_report(tenant, report.to_dict(), report.head_seq)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(tenant: str, report: dict[str, Any], head_seq: int) -> None:
    if report["ok"]:
        console.print(
            f"[green]ok[/green] tenant {tenant}: {report['checked']} entries, "
            f"chain intact up to seq {head_seq}, balances match the journal"
        )
        return
    if report["first_bad_seq"] is not None:
        console.print(f"[red]chain broken[/red] at seq {report['first_bad_seq']}")
    if report["drift"]:
        table = Table("account", "stored", "replayed", title="balance drift")
        for d in report["drift"]:
            table.add_row(d["account"], json.dumps(d["stored"]), json.dumps(d["replayed"]))
        console.print(table)


tenants_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
integrity.register(app)


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The tenant's display name.")],
    database_url: DatabaseUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Create a tenant and print its first API key (every scope), once."""
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        tenant, secret = Access(engine).create_tenant(name)
    except StrongroomError as exc:
        _fail(exc)
        return
    finally:
        engine.dispose()
    if as_json:
        _emit({"tenant": tenant.to_dict(), "api_key": secret})
    else:
        console.print(f"tenant [bold]{tenant.id}[/bold] ({tenant.name})")
        console.print(f"API key (shown once): [bold]{secret}[/bold]")


@app.command()
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
) -> None:
    """Migrate, then serve the HTTP API. On an empty database, create a first tenant
    and print its API key once. The server also relays events (webhooks, NATS) and
    runs the integrity jobs, unless --no-worker."""
    import uvicorn

    if workers > 1 and database_url.startswith("sqlite"):
        _fail(ValidationError("--workers > 1 needs PostgreSQL", loc=("workers",)))
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        access = Access(engine)
        first = None if access.has_tenants() else access.create_tenant("first tenant")
    finally:
        engine.dispose()
    os.environ["STRONGROOM_DATABASE_URL"] = database_url
    if admin_token:
        os.environ["STRONGROOM_ADMIN_TOKEN"] = admin_token
    os.environ["STRONGROOM_WORKER"] = "true" if run_worker else "false"
    os.environ["STRONGROOM_TUNE_GC"] = "true"  # each worker is a process of its own
    base = f"http://{host}:{port}"
    console.print(f"Strongroom {__version__} listening on [bold]{base}[/bold] (docs: {base}/docs)")
    if first is not None:
        tenant, secret = first
        console.print(f"created tenant {tenant.id}; its API key, shown once:")
        console.print(f"  [bold]{secret}[/bold]")
        console.print(
            "try:\n"
            f"  curl -s -X POST {base}/v1/accounts -H 'Authorization: Bearer {secret}' "
            '-H \'Content-Type: application/json\' -d \'{"id": "user:1", "currency": "USD"}\'',
            soft_wrap=True,
        )
    uvicorn.run(
        "strongroom.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@app.command()
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
) -> None:
    """Relay outbox events to webhook endpoints and NATS, and run the integrity jobs.

    Runs until SIGTERM or SIGINT. Any number of workers can share a PostgreSQL
    database; with SQLite, `serve` already runs one. Other settings come from the
    STRONGROOM_* environment (see the README).
    """
    from strongroom.cli.worker import run_worker

    try:
        done = run_worker(
            database_url=database_url,
            nats_url=nats_url,
            webhook_allowed_hosts=webhook_allowed_hosts,
            once=once,
        )
    except StrongroomError as exc:
        _fail(exc)
        return
    if once:
        console.print(f"worker: {done} items of work done")


@app.command()
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

    try:
        options = BenchOptions(
            scenarios=tuple(scenario or ()),
            backend=backend, duration=duration, n=n, clients=clients, accounts=accounts,
            group_commit=group_commit, verify=verify_books, postgres_url=postgres_url,
        )  # fmt: skip
        code = run_bench(
            options, as_json=as_json, chart=chart, console=console, err_console=err_console
        )
    except StrongroomError as exc:
        _fail(exc)
        return
    raise typer.Exit(code)


def main() -> None:
    app()
