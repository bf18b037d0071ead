"""tenants and keys on the command line, the default tenant, and how commands fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from strongroom.access.service import Access
from strongroom.domain.errors import Unauthenticated
from strongroom.store.database import create_db_engine

runner = CliRunner()
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"


def run(*args: str) -> Result:
    from strongroom.cli import app

    return runner.invoke(app, list(args))


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def create(db_url: str, name: str) -> dict[str, Any]:
    result = run("tenants", "create", name, "--database-url", db_url, "--json")
    assert result.exit_code == 0, result.output
    return as_json(result)  # type: ignore[no-any-return]


def test_the_only_tenant_is_every_commands_default(db_url: str) -> None:
    """After the first tenant is made, verify and reconcile need no --tenant."""
    made = create(db_url, "acme")
    verified = run("verify", "--database-url", db_url, "--json")
    assert verified.exit_code == 0, verified.output
    assert as_json(verified)["tenant"] == made["tenant"]["id"]
    assert run("reconcile", "--database-url", db_url).exit_code == 0


def test_tenant_takes_an_id_or_a_name(db_url: str) -> None:
    """--tenant acme and --tenant tn_... name the same tenant."""
    made = create(db_url, "acme")
    create(db_url, "beta")
    for ref in ("acme", made["tenant"]["id"]):
        verified = run("verify", "--database-url", db_url, "--tenant", ref, "--json")
        assert as_json(verified)["tenant"] == made["tenant"]["id"]


def test_several_tenants_need_a_name(db_url: str) -> None:
    """With two tenants and no --tenant, verify exits NOT_FOUND listing both."""
    create(db_url, "acme")
    create(db_url, "beta")
    result = run("verify", "--database-url", db_url, "--json")
    assert result.exit_code == 3
    problem = as_json(result)
    assert problem["code"] == "NOT_FOUND"
    assert "acme" in problem["detail"]
    assert "beta" in problem["detail"]


def test_a_tenant_name_is_taken_once(db_url: str) -> None:
    """tenants create acme twice: the second exits 4 with ALREADY_EXISTS."""
    create(db_url, "acme")
    again = run("tenants", "create", "acme", "--database-url", db_url, "--json")
    assert again.exit_code == 4
    assert as_json(again)["code"] == "ALREADY_EXISTS"
    listed = as_json(run("tenants", "list", "--database-url", db_url, "--json"))
    assert [t["name"] for t in listed["tenants"]] == ["acme"]


def test_tenants_show(db_url: str) -> None:
    """tenants show reports the tenant, its empty journal and its one key."""
    made = create(db_url, "acme")
    shown = as_json(run("tenants", "show", "acme", "--database-url", db_url, "--json"))
    assert shown["id"] == made["tenant"]["id"]
    assert shown["head"]["seq"] == 0
    assert shown["api_keys"] == {"active": 1, "total": 1}


def test_a_lost_key_is_replaced_from_the_command_line(db_url: str) -> None:
    """keys create gives a working key; keys revoke makes it fail at once."""
    create(db_url, "acme")
    made = run("keys", "create", "--tenant", "acme", "--database-url", db_url, "--json")
    assert made.exit_code == 0, made.output
    key = as_json(made)
    engine = create_db_engine(db_url)
    try:
        access = Access(engine)
        assert access.authenticate(key["key"]).key_id == key["id"]
        listed = as_json(run("keys", "list", "--database-url", db_url, "--json"))
        assert key["id"] in [k["id"] for k in listed["keys"]]
        assert all("key" not in k for k in listed["keys"])
        revoked = run("keys", "revoke", key["id"], "--database-url", db_url, "--json")
        assert as_json(revoked)["revoked_at"] is not None
        with pytest.raises(Unauthenticated):
            access.authenticate(key["key"])
    finally:
        engine.dispose()


def test_keys_create_takes_scopes(db_url: str) -> None:
    """--scope limits a new key; an unknown scope exits VALIDATION_ERROR (2)."""
    create(db_url, "acme")
    made = run("keys", "create", "--scope", "ledger:read", "--database-url", db_url, "--json")
    assert as_json(made)["scopes"] == ["ledger:read"]
    bad = run("keys", "create", "--scope", "root", "--database-url", db_url, "--json")
    assert bad.exit_code == 2
    assert as_json(bad)["code"] == "VALIDATION_ERROR"


def test_another_tenants_key_is_not_found(db_url: str) -> None:
    """keys revoke of another tenant's key id exits NOT_FOUND and revokes nothing."""
    create(db_url, "acme")
    create(db_url, "beta")
    key = as_json(run("keys", "create", "--tenant", "beta", "--database-url", db_url, "--json"))
    result = run("keys", "revoke", key["id"], "--tenant", "acme", "--database-url", db_url)
    assert result.exit_code == 3
    listed = as_json(run("keys", "list", "--tenant", "beta", "--database-url", db_url, "--json"))
    assert all(k["revoked_at"] is None for k in listed["keys"])


@pytest.mark.parametrize("command", [["migrate"], ["verify"], ["tenants", "list"], ["jobs"]])
def test_an_unreachable_database_is_one_line_and_exit_7(command: list[str]) -> None:
    """No traceback: one line naming the database, exit 7 (STORAGE_UNAVAILABLE)."""
    result = run(*command, "--database-url", UNREACHABLE)
    assert result.exit_code == 7
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error STORAGE_UNAVAILABLE: cannot open the database")


def test_an_unreachable_database_as_json_is_a_problem_document() -> None:
    """With --json the failure is the problem document, on stdout."""
    result = run("verify", "--database-url", UNREACHABLE, "--json")
    assert result.exit_code == 7
    problem = as_json(result)
    assert problem["code"] == "STORAGE_UNAVAILABLE"
    assert problem["status"] == 503
    assert problem["type"].endswith("/storage-unavailable")


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    """verify of a file that does not exist exits 7 and leaves no file behind."""
    path = tmp_path / "absent.db"
    result = run("verify", "--database-url", f"sqlite:///{path}")
    assert result.exit_code == 7
    assert "strongroom migrate" in result.stderr
    assert not path.exists()


def test_piped_output_is_not_wrapped(db_url: str) -> None:
    """A long line printed to a pipe stays one line."""
    name = "a tenant with a name much longer than eighty columns " * 3
    result = run("tenants", "create", name.strip(), "--database-url", db_url)
    assert f"({name.strip()})" in result.stdout
