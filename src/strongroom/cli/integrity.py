"""The integrity jobs: ``reconcile``, ``checkpoint``, ``verify-checkpoints``, ``expire-holds``.

Each is a thin layer over a ``Ledger`` method, for cron or an operator.
``reconcile`` and ``verify-checkpoints`` exit 0 when everything checks out and
1 when they found a problem; errors exit with the code of their class.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from strongroom.cli.output import (
    DEFAULT_URL,
    AsJson,
    DatabaseUrl,
    Tenant,
    command,
    console,
    emit,
)
from strongroom.domain.errors import NotFound, StrongroomError, ValidationError
from strongroom.engine.checkpoints import (
    DEFAULT_KEY_PATH,
    KEY_PATH_ENV,
    Checkpoint,
    SigningKey,
    public_key_of,
    verify_checkpoint,
)
from strongroom.engine.ledger import Ledger
from strongroom.engine.reconcile import ReconcileReport
from strongroom.engine.tenants import choose_tenant
from strongroom.store import queries as q
from strongroom.store.database import create_db_engine, read_connection
from strongroom.store.migrate import require_current

AllTenants = Annotated[bool, typer.Option("--all", help="Every tenant of the database.")]
KeyPath = Annotated[
    Path,
    typer.Option(
        "--key-path",
        envvar=KEY_PATH_ENV,
        help="The Ed25519 signing key (PEM, mode 0600); created on first use.",
    ),
]


@contextmanager
def _ledgers(database_url: str, tenant: str | None, every: bool) -> Iterator[list[Ledger]]:
    """The ledger of ``tenant`` (an id or a name; default: the database's only
    tenant), or of every tenant with ``every``."""
    if every and tenant is not None:
        raise ValidationError("give --tenant or --all, not both", loc=("tenant",))
    engine = create_db_engine(database_url)
    try:
        require_current(engine)
        with read_connection(engine) as conn:
            ids = q.tenant_ids(conn) if every else [choose_tenant(conn, tenant, create=False).id]
        yield [Ledger(engine, tenant=t, group_commit=False) for t in ids]
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add the integrity commands to ``app``."""
    command(app)(reconcile)
    command(app)(checkpoint)
    command(app, "verify-checkpoints")(verify_checkpoints)
    command(app, "expire-holds")(expire_holds)
    command(app)(jobs)


# -- reconcile ---------------------------------------------------------------------------


def reconcile(
    database_url: DatabaseUrl = DEFAULT_URL,
    tenant: Tenant = None,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Restore drifted running sums from the journal."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Compare every account's stored running sums with a replay of the journal.

    Exits 0 when the chain verifies and no account drifted (with --rebuild: when
    the drift was repaired), 1 when drift or a broken chain was found. --rebuild
    refuses (INVALID_STATE) while the chain itself does not verify.
    """
    with _ledgers(database_url, tenant, False) as (ledger,):
        report = ledger.reconcile(rebuild=rebuild)
    if as_json:
        emit(report.to_dict())
    else:
        _print_reconcile(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_reconcile(report: ReconcileReport) -> None:
    if not report.chain_ok:
        console().print(
            f"[red]chain broken[/red] at seq {report.first_bad_seq}: "
            "the journal cannot be trusted (see strongroom verify)"
        )
    if not report.drift:
        if report.chain_ok:
            console().print(
                f"[green]ok[/green] tenant {report.tenant}: {report.checked} entries replayed, "
                "every account's running sums match the journal"
            )
        return
    table = Table("account", "stored", "replayed", title=f"balance drift in {report.tenant}")
    for d in report.drift:
        body = d.to_dict()
        table.add_row(d.account, json.dumps(body["stored"]), json.dumps(body["replayed"]))
    console().print(table)
    if report.rebuilt:
        console().print(f"[green]rebuilt[/green] {len(report.drift)} account(s) from the journal")
    else:
        console().print("run strongroom reconcile --rebuild to restore them from the journal")


# -- checkpoints -------------------------------------------------------------------------


def checkpoint(
    database_url: DatabaseUrl = DEFAULT_URL,
    tenant: Tenant = None,
    every: AllTenants = False,
    key_path: KeyPath = Path(DEFAULT_KEY_PATH),
    verify_first: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="Verify the whole chain before signing."),
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Sign each tenant's chain head with the server's Ed25519 key and store the checkpoint.

    Keep the printed checkpoints (or GET /v1/ledger/checkpoints) somewhere else:
    verify-checkpoints later proves the history up to them was not rewritten.
    A tenant whose chain does not verify is not signed (INVALID_STATE).
    """
    key = SigningKey.load(key_path)
    with _ledgers(database_url, tenant, every) as ledgers:
        results = [_checkpoint_one(ledger, key, verify_first) for ledger in ledgers]
    failed = [error for _, error in results if error is not None]
    if as_json:
        emit(
            {
                "key_id": key.key_id,
                "public_key": key.public_key,
                "checkpoints": [c.to_json() for c, _ in results if c is not None],
                "errors": [{"tenant": t, "code": e.code, "detail": e.detail} for t, e in failed],
            }
        )
    else:
        console().print(f"signing key {key.key_id}, public key {key.public_key}")
        for c, _ in results:
            if c is not None:
                console().print(f"tenant {c.tenant}: seq {c.seq} hash {c.hash} signed")
        for t, e in failed:
            console(stderr=True).print(f"[red]error[/red] tenant {t}: {e.code}: {e.detail}")
    if failed:
        raise typer.Exit(failed[0][1].exit_code)


def _checkpoint_one(
    ledger: Ledger, key: SigningKey, verify_first: bool
) -> tuple[Checkpoint | None, tuple[str, StrongroomError] | None]:
    try:
        return ledger.checkpoint(key, verify_chain=verify_first), None
    except StrongroomError as exc:
        return None, (ledger.tenant, exc)


def verify_checkpoints(
    source: Annotated[
        str,
        typer.Argument(help="A JSON file of checkpoints (as printed or served), or - for stdin."),
    ],
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="The signer's public key, base64 [default: the one of --key-path].",
        ),
    ] = None,
    key_path: KeyPath = Path(DEFAULT_KEY_PATH),
    database_url: DatabaseUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Check saved checkpoints: each signature, and that the journal still matches each one.

    Reads one checkpoint, a list, or a document with "checkpoints" or "data"
    (the output of `strongroom checkpoint --json` or of GET /v1/ledger/checkpoints).
    Exits 0 when every signature is valid and the chain still holds every
    checkpointed hash, 1 otherwise.
    """
    found = _read_checkpoints(source)
    key = public_key_of(public_key) if public_key else SigningKey.load(key_path, create=False)
    results = _check_all(database_url, found, key)
    ok = all(r["signature_ok"] and r["chain_ok"] for r in results)
    if as_json:
        emit({"ok": ok, "checkpoints": results})
    else:
        for r in results:
            verdict = (
                "[green]ok[/green]" if r["signature_ok"] and r["chain_ok"] else "[red]BAD[/red]"
            )
            console().print(
                f"{verdict} tenant {r['tenant']} seq {r['seq']}: signature "
                f"{'valid' if r['signature_ok'] else 'INVALID'}, chain "
                f"{'matches' if r['chain_ok'] else 'DOES NOT MATCH'}"
            )
    if not ok:
        raise typer.Exit(1)


def _read_checkpoints(source: str) -> list[Checkpoint]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        body = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read checkpoints from {source}: {exc}") from None
    if isinstance(body, dict):
        body = body.get("checkpoints", body.get("data", [body]))
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ValidationError("expected a checkpoint or a list of checkpoints")
    return [Checkpoint.from_dict(item) for item in body]


def _check_all(database_url: str, found: list[Checkpoint], key: Any) -> list[dict[str, Any]]:
    results = []
    engine = create_db_engine(database_url)
    try:
        require_current(engine)
        root = Ledger(engine, tenant="default", group_commit=False)
        for cp in found:
            ledger = root.for_tenant(cp.tenant, create=False)
            try:
                chain_ok = ledger.check_checkpoint(cp)
            except NotFound:
                chain_ok = False
            results.append(
                {
                    "tenant": cp.tenant,
                    "seq": cp.seq,
                    "hash": cp.hash,
                    "signature_ok": verify_checkpoint(cp, key),
                    "chain_ok": chain_ok,
                }
            )
    finally:
        engine.dispose()
    return results


# -- holds ---------------------------------------------------------------------------------


def expire_holds(
    database_url: DatabaseUrl = DEFAULT_URL,
    tenant: Tenant = None,
    every: AllTenants = False,
    as_json: AsJson = False,
) -> None:
    """Expire every hold past its deadline (status expired, funds released)."""
    with _ledgers(database_url, tenant, every) as ledgers:
        counts = {ledger.tenant: ledger.expire_holds() for ledger in ledgers}
    if as_json:
        emit({"expired": sum(counts.values()), "tenants": counts})
        return
    for name, count in counts.items():
        console().print(f"tenant {name}: {count} hold(s) expired")


# -- the worker's scheduled jobs ---------------------------------------------------------


def jobs(database_url: DatabaseUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The worker's shared jobs (reconcile, checkpoint): when each last ran and
    what it found. Exits 1 when the last run of any job found a problem."""
    from strongroom.store import webhooks as sql

    engine = create_db_engine(database_url)
    try:
        require_current(engine)
        with engine.connect() as conn:
            rows = [
                {
                    "name": r.name,
                    "next_run_at": r.next_run_at,
                    "last_started_at": r.last_started_at,
                    "last_finished_at": r.last_finished_at,
                    "last_ok": None if r.last_ok is None else bool(r.last_ok),
                    "last_detail": r.last_detail,
                }
                for r in sql.list_jobs(conn)
            ]
    finally:
        engine.dispose()
    if as_json:
        emit({"jobs": rows})
    else:
        table = Table("job", "last finished", "ok", "detail", "next run")
        for row in rows:
            ok = {None: "-", True: "[green]yes[/green]", False: "[red]no[/red]"}[row["last_ok"]]
            finished = str(row["last_finished_at"] or "-")
            detail = (row["last_detail"] or "")[:80]
            table.add_row(row["name"], finished, ok, detail, str(row["next_run_at"]))
        console().print(table)
    if any(row["last_ok"] is False for row in rows):
        raise typer.Exit(1)
