"""``strongroom tenants list | create | show`` and ``strongroom keys create | list | revoke``.

For the operator of the database: ``keys create`` gives a tenant a new key when
its first one is lost, without the platform admin token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from strongroom.access import keys as key_format
from strongroom.access.service import Access
from strongroom.cli.output import DEFAULT_URL, AsJson, DatabaseUrl, Tenant, command, console, emit
from strongroom.domain.errors import ValidationError
from strongroom.engine.pages import MAX_LIMIT
from strongroom.engine.tenants import choose_tenant
from strongroom.store.database import create_db_engine, read_connection
from strongroom.store.migrate import require_current, upgrade

tenants_app = typer.Typer(help="List, create and show tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke a tenant's API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(keys_app, name="keys")


@contextmanager
def _access(database_url: str, *, migrate: bool = False) -> Iterator[Access]:
    engine = create_db_engine(database_url)
    try:
        if migrate:
            upgrade(engine)
        else:
            require_current(engine)
        yield Access(engine)
    finally:
        engine.dispose()


def _tenant_id(engine: Engine, ref: str | None) -> str:
    with read_connection(engine) as conn:
        return choose_tenant(conn, ref, create=False).id


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


# -- tenants --------------------------------------------------------------------------


@command(tenants_app, "list")
def tenants_list(database_url: DatabaseUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Every tenant of the database: id, name, when it was made."""
    found = []
    with _access(database_url) as access:
        cursor = None
        while True:
            page = access.list_tenants(limit=MAX_LIMIT, cursor=cursor)
            found.extend(page.data)
            if (cursor := page.next_cursor) is None:
                break
    if as_json:
        emit({"tenants": [t.to_dict() for t in found]})
        return
    table = Table("id", "name", "created")
    for t in found:
        table.add_row(t.id, t.name, _when(t.created_at))
    console().print(table)


@command(tenants_app, "create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The tenant's name, unique in the database.")],
    database_url: DatabaseUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Create a tenant and print its first API key (every scope), once.

    The database is created or migrated first. A name already taken (or another
    tenant's id) exits with ALREADY_EXISTS.
    """
    with _access(database_url, migrate=True) as access:
        tenant, secret = access.create_tenant(name)
    if as_json:
        emit({"tenant": tenant.to_dict(), "api_key": secret})
        return
    out = console()
    out.print(f"tenant [bold]{tenant.id}[/bold] ({tenant.name})")
    out.print("API key, shown once:")
    out.print(f"  {secret}", markup=False, highlight=False)


@command(tenants_app, "show")
def tenants_show(
    tenant: Annotated[
        str | None,
        typer.Argument(
            help="Its id or name [default: the database's only tenant].", show_default=False
        ),
    ] = None,
    database_url: DatabaseUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """A tenant: id, name, its ledger's head, how many API keys it has."""
    with _access(database_url) as access:
        info = access.tenant(_tenant_id(access.engine, tenant))
    if as_json:
        emit(info.to_dict())
        return
    out = console()
    out.print(f"tenant [bold]{info.tenant.id}[/bold] ({info.tenant.name})")
    out.print(f"  created   {_when(info.tenant.created_at)}")
    out.print(f"  journal   {info.head_seq} entries, head {info.head_hash}")
    out.print(f"  API keys  {info.live_keys} active of {info.keys}")


# -- keys -----------------------------------------------------------------------------

Scopes = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        help=f"Repeat for each scope: {', '.join(key_format.SCOPES)} [default: all].",
        show_default=False,
    ),
]


@command(keys_app, "create")
def keys_create(
    tenant: Tenant = None,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "created by the CLI",
    scope: Scopes = None,
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            help="When it stops working, with its time zone (2027-01-31T00:00:00+00:00).",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"],
        ),
    ] = None,
    database_url: DatabaseUrl = DEFAULT_URL,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print the secret alone (for a script).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Make a new API key for a tenant and print its secret, once (e.g. for a lost key)."""
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValidationError("--expires-at needs a time zone", loc=("expires_at",))
    with _access(database_url) as access:
        key, secret = access.create_key(
            _tenant_id(access.engine, tenant), name, scope or key_format.SCOPES, expires_at
        )
    if as_json:
        emit({**key.to_dict(), "tenant": key.tenant, "key": secret})
        return
    out = console()
    if quiet:
        out.print(secret, markup=False, highlight=False)
        return
    out.print(f"key [bold]{key.id}[/bold] of tenant {key.tenant}, scopes {', '.join(key.scopes)}")
    out.print("secret, shown once:")
    out.print(f"  {secret}", markup=False, highlight=False)


@command(keys_app, "list")
def keys_list(
    tenant: Tenant = None, database_url: DatabaseUrl = DEFAULT_URL, as_json: AsJson = False
) -> None:
    """A tenant's API keys (never their secrets), revoked ones included."""
    found = []
    with _access(database_url) as access:
        tenant_id = _tenant_id(access.engine, tenant)
        cursor = None
        while True:
            page = access.list_keys(tenant_id, limit=MAX_LIMIT, cursor=cursor)
            found.extend(page.data)
            if (cursor := page.next_cursor) is None:
                break
    if as_json:
        emit({"tenant": tenant_id, "keys": [k.to_dict() for k in found]})
        return
    table = Table("id", "name", "prefix", "scopes", "created", "last used", "state")
    for k in found:
        state = "revoked" if k.revoked_at else f"expires {_when(k.expires_at)}"
        if not k.revoked_at and k.expires_at is None:
            state = "active"
        table.add_row(
            k.id, k.name, k.prefix, " ".join(k.scopes), _when(k.created_at),
            _when(k.last_used_at), state,
        )  # fmt: skip
    console().print(table)


@command(keys_app, "revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")],
    tenant: Tenant = None,
    database_url: DatabaseUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Revoke a key: every server refuses it within a tenth of a second."""
    with _access(database_url) as access:
        key = access.revoke(_tenant_id(access.engine, tenant), key_id)
    if as_json:
        emit(key.to_dict())
        return
    console().print(f"key {key.id} ({key.name}) revoked at {_when(key.revoked_at)}")
