"""Migrations: the migrated schema is the declared one, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from strongroom.store.database import create_db_engine
from strongroom.store.migrate import current_revision, head_revision, upgrade
from strongroom.store.schema import metadata


def test_migrated_schema_matches_the_tables(db_url: str) -> None:
    """Alembic finds no difference between the migrations and store/schema.py."""
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent(db_url: str) -> None:
    """Upgrading a current database changes nothing and reports the head revision."""
    engine = create_db_engine(db_url)
    try:
        assert upgrade(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        assert "journal" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
