"""The integrity commands: reconcile, checkpoint, verify-checkpoints, expire-holds."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from strongroom import Ledger
from strongroom.cli import app
from strongroom.engine.checkpoints import SigningKey
from strongroom.store.schema import accounts, journal
from tests.engine.test_tamper import books, tampering

__all__ = ["books"]  # the fixture, imported for these tests

runner = CliRunner()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _drift(ledger: Ledger, account: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            update(accounts)
            .where(accounts.c.tenant_id == ledger.tenant, accounts.c.id == account)
            .values(pending_debits=accounts.c.pending_debits + 3)
        )


# -- reconcile ----------------------------------------------------------------------------


def test_reconcile_exits_zero_without_drift(books: Ledger, db_url: str) -> None:
    """reconcile of untouched books exits 0 and says so."""
    result = _run("reconcile", "--database-url", db_url, "--tenant", "t1")
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout


def test_reconcile_exits_one_naming_the_drifted_account(books: Ledger, db_url: str) -> None:
    """With drift, reconcile --json exits 1 and lists exactly that account."""
    _drift(books, "fees")
    result = _run("reconcile", "--database-url", db_url, "--tenant", "t1", "--json")
    assert result.exit_code == 1, result.output
    report = _json(result)
    assert (report["ok"], report["rebuilt"], report["chain_ok"]) == (False, False, True)
    assert [d["account"] for d in report["drift"]] == ["fees"]
    drift = report["drift"][0]
    assert drift["stored"]["pending_debits"] - drift["replayed"]["pending_debits"] == 3


def test_reconcile_rebuild_fixes_the_drift(books: Ledger, db_url: str) -> None:
    """--rebuild restores the sums and exits 0; afterwards reconcile and verify are clean."""
    _drift(books, "fees")
    result = _run("reconcile", "--database-url", db_url, "--tenant", "t1", "--rebuild", "--json")
    assert result.exit_code == 0, result.output
    report = _json(result)
    assert (report["ok"], report["rebuilt"]) == (True, True)
    assert [d["account"] for d in report["drift"]] == ["fees"]
    assert _run("reconcile", "--database-url", db_url, "--tenant", "t1").exit_code == 0
    assert books.verify().ok


def test_reconcile_rebuild_refuses_a_broken_chain(books: Ledger, db_url: str) -> None:
    """--rebuild on an altered journal exits with INVALID_STATE's code and changes nothing."""
    _drift(books, "fees")
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == 5)
            .values(description="edited")
        )
    result = _run("reconcile", "--database-url", db_url, "--tenant", "t1", "--rebuild")
    assert result.exit_code == 4, result.output
    assert "INVALID_STATE" in result.output
    assert [d.account for d in books.reconcile().drift] == ["fees"]


def test_reconcile_of_an_unknown_tenant_is_not_found(books: Ledger, db_url: str) -> None:
    """reconcile of a tenant without a ledger exits with NOT_FOUND's code."""
    assert _run("reconcile", "--database-url", db_url, "--tenant", "ghost").exit_code == 3


# -- checkpoints -------------------------------------------------------------------------


def _checkpoint(db_url: str, key: Path, *args: str) -> Result:
    return _run("checkpoint", "--database-url", db_url, "--key-path", str(key), "--json", *args)


def test_checkpoint_creates_a_private_key_and_signs_the_head(
    books: Ledger, db_url: str, tmp_path: Path
) -> None:
    """checkpoint --json signs the head with a new 0600 key and never prints the secret."""
    key = tmp_path / "signing.key"
    result = _checkpoint(db_url, key, "--tenant", "t1")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    body = _json(result)
    [checkpoint] = body["checkpoints"]
    assert (checkpoint["seq"], checkpoint["hash"]) == books.head()
    assert body["key_id"] == SigningKey.load(key).key_id
    assert "PRIVATE" not in result.output
    assert books.list_checkpoints().data[0].hash == checkpoint["hash"]


def test_checkpoint_all_signs_every_tenant(
    books: Ledger, db_url: str, tmp_path: Path, open_ledger: Callable[..., Ledger]
) -> None:
    """--all checkpoints each tenant of the database."""
    open_ledger(tenant="t2")
    result = _checkpoint(db_url, tmp_path / "k", "--all")
    assert result.exit_code == 0, result.output
    assert [c["tenant"] for c in _json(result)["checkpoints"]] == ["t1", "t2"]


def test_checkpoint_refuses_tenant_and_all_together(
    books: Ledger, db_url: str, tmp_path: Path
) -> None:
    """--tenant with --all is a VALIDATION_ERROR."""
    assert _checkpoint(db_url, tmp_path / "k", "--all", "--tenant", "t1").exit_code == 2


def test_saved_checkpoints_verify_until_history_is_rewritten(
    books: Ledger, db_url: str, tmp_path: Path
) -> None:
    """verify-checkpoints exits 0 on saved checkpoints, 1 once the checkpointed entry changed."""
    key = tmp_path / "signing.key"
    saved = tmp_path / "checkpoints.json"
    saved.write_text(_checkpoint(db_url, key, "--tenant", "t1").stdout)
    args = ["verify-checkpoints", str(saved), "--database-url", db_url, "--key-path", str(key)]
    good = _run(*args, "--json")
    assert good.exit_code == 0, good.output
    assert _json(good)["ok"] is True
    seq = books.head()[0]
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == seq)
            .values(hash="e" * 64)
        )
    bad = _run(*args, "--json")
    assert bad.exit_code == 1, bad.output
    [result] = _json(bad)["checkpoints"]
    assert (result["signature_ok"], result["chain_ok"]) == (True, False)


def test_verify_checkpoints_rejects_a_forged_signature(
    books: Ledger, db_url: str, tmp_path: Path
) -> None:
    """A checkpoint whose hash was edited in the saved file fails its signature: exit 1."""
    key = tmp_path / "signing.key"
    body = _json(_checkpoint(db_url, key, "--tenant", "t1"))
    body["checkpoints"][0]["hash"] = "d" * 64
    saved = tmp_path / "forged.json"
    saved.write_text(json.dumps(body))
    public = SigningKey.load(key).public_key
    result = _run(
        "verify-checkpoints", str(saved), "--database-url", db_url, "--public-key", public, "--json"
    )
    assert result.exit_code == 1, result.output
    [checked] = _json(result)["checkpoints"]
    assert checked["signature_ok"] is False


def test_verify_checkpoints_with_another_key_fails(
    books: Ledger, db_url: str, tmp_path: Path
) -> None:
    """Checkpoints do not verify against a public key that did not sign them."""
    saved = tmp_path / "checkpoints.json"
    saved.write_text(_checkpoint(db_url, tmp_path / "signing.key", "--tenant", "t1").stdout)
    stranger = SigningKey.generate().public_key
    args = ["verify-checkpoints", str(saved), "--database-url", db_url, "--public-key", stranger]
    assert _run(*args).exit_code == 1


# -- expire-holds --------------------------------------------------------------------------


def test_expire_holds_all_tenants(
    books: Ledger, db_url: str, open_ledger: Callable[..., Ledger]
) -> None:
    """expire-holds --all expires past-due holds of every tenant and reports the counts.

    The holds were made on the fake clock (March 2026); the command runs on the real one.
    """
    other = open_ledger(tenant="t2")
    other.create_account("@world", currency="USD", overdraft_limit=None)
    other.create_account("u", currency="USD")
    for ledger in (books, other):
        source = "user:1" if ledger is books else "@world"
        ledger.transfer(source, "@world" if ledger is books else "u", 1, "USD",
                        pending=True, timeout_seconds=1)  # fmt: skip
    result = _run("expire-holds", "--database-url", db_url, "--all", "--json")
    assert result.exit_code == 0, result.output
    assert _json(result) == {"expired": 2, "tenants": {"t1": 1, "t2": 1}}
    assert _run("expire-holds", "--database-url", db_url, "--tenant", "t1").exit_code == 0


@pytest.mark.parametrize("command", ["expire-holds", "reconcile", "checkpoint"])
def test_unknown_tenant_exits_not_found(db_url: str, command: str, tmp_path: Path) -> None:
    """Every integrity command exits 3 for a tenant without a ledger."""
    extra = ["--key-path", str(tmp_path / "k")] if command == "checkpoint" else []
    result = _run(command, "--database-url", db_url, "--tenant", "ghost", *extra)
    assert result.exit_code == 3, result.output
