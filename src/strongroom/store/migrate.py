"""Running the Alembic migrations, safely from several processes at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from strongroom.domain.errors import StorageUnavailable
from strongroom.store.database import write_connection

_LOCATION = str(Path(__file__).with_name("migrations"))
_ADVISORY_LOCK = 0x5354524F4E47  # "STRONG": one migrator at a time on PostgreSQL


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def require_current(engine: Engine) -> str:
    """The schema's revision; STORAGE_UNAVAILABLE unless it is this code's newest.

    For what only reads or writes an existing database (``verify``, ``worker``...):
    a missing SQLite file is not created, and a schema to migrate is named.
    """
    url = engine.url
    on_disk = url.get_backend_name() == "sqlite" and url.database not in {None, "", ":memory:"}
    if on_disk and not Path(str(url.database)).is_file():
        raise StorageUnavailable(
            f"no database at {url.database}: create it with `strongroom migrate`"
        )
    found = current_revision(engine)
    head = head_revision()
    if found == head:
        return head
    if found is None:
        detail = "it has no Strongroom schema: create it with `strongroom migrate`"
    elif found in _known_revisions():
        detail = (
            f"its schema is at revision {found}, this version needs {head}: "
            "run `strongroom migrate`"
        )
    else:
        detail = f"its schema is at revision {found}, newer than this version ({head})"
    raise StorageUnavailable(f"the database {url.render_as_string(hide_password=True)}: {detail}")


def _known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def upgrade(engine: Engine) -> str:
    """Migrate to the newest revision (a no-op when already there); return it."""
    if is_current(engine):
        return head_revision()
    with _migrating(engine) as conn:
        command.upgrade(_config(conn), "head")
    return head_revision()


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to ``revision``: to compare a schema with an older one (tests,
    ``bench/write_footprint.py``), or to leave a release for the one before."""
    with _migrating(engine) as conn:
        command.downgrade(_config(conn), revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A write connection in a transaction, holding the migrators' lock on PostgreSQL."""
    with write_connection(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        yield conn
