"""The command line: help on every command, migrate, verify, version, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from strongroom import Ledger
from strongroom._version import __version__
from strongroom.cli import app

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, sub in sorted(group.commands.items()):
        if hasattr(sub, "commands"):
            found += _commands(sub, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))
IDS = [" ".join(c) for c in COMMANDS]


def test_the_commands_are_all_there() -> None:
    """The command set the README documents."""
    assert set(IDS) == {
        "migrate", "verify", "version", "serve", "worker", "bench", "jobs",
        "reconcile", "checkpoint", "verify-checkpoints", "expire-holds",
        "tenants list", "tenants create", "tenants show",
        "keys create", "keys list", "keys revoke",
    }  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    """Each command documents itself."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_every_command_takes_json(command: tuple[str, ...]) -> None:
    """Each command can answer in JSON, its errors too."""
    result = runner.invoke(app, [*command, "--help"])
    assert "--json" in result.output


def test_version_json() -> None:
    """version --json prints the version as JSON."""
    result = runner.invoke(app, ["version", "--json"])
    assert json.loads(result.output) == {"version": __version__}


def test_migrate_then_verify_empty(tmp_path: Path) -> None:
    """migrate creates the schema; verify of a fresh tenant is ok and exits 0."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrated = runner.invoke(app, ["migrate", "--database-url", url, "--json"])
    assert migrated.exit_code == 0
    assert json.loads(migrated.output)["from"] is None
    Ledger.open(url, tenant="acme").close()
    result = runner.invoke(app, ["verify", "--database-url", url, "--tenant", "acme", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["ok"] is True


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STRONGROOM_DATABASE_URL stands in for --database-url."""
    monkeypatch.setenv("STRONGROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_verify_unknown_tenant_exits_not_found(tmp_path: Path) -> None:
    """verify of a tenant that has no ledger exits with NOT_FOUND's code and creates nothing."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner.invoke(app, ["migrate", "--database-url", url])
    result = runner.invoke(app, ["verify", "--database-url", url, "--tenant", "ghost"])
    assert result.exit_code == 3


def test_bad_database_url_is_a_validation_error() -> None:
    """A URL of another database kind exits with VALIDATION_ERROR's code."""
    result = runner.invoke(app, ["migrate", "--database-url", "mysql://x/y"])
    assert result.exit_code == 2
