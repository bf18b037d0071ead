"""Signed checkpoints: the key file, signatures that verify, and the proof against rewrites."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, update

from strongroom import InvalidState, Ledger, ValidationError
from strongroom.domain.chain import link
from strongroom.engine.checkpoints import (
    KEY_PATH_ENV,
    Checkpoint,
    SigningKey,
    verify_checkpoint,
)
from strongroom.engine.verify import entry_of_row
from strongroom.store.schema import journal, journal_postings, ledger_heads, transactions
from tests.engine.test_tamper import LAST, books, tampering

__all__ = ["books"]  # the fixture, imported for these tests


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load(tmp_path / "signing.key")


# -- the key file --------------------------------------------------------------------------


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    """The first load creates a PEM key readable by its owner only; later loads reuse it."""
    path = tmp_path / "signing.key"
    first = SigningKey.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.load(path).key_id == first.key_id
    assert "PRIVATE" not in repr(first)
    assert first.key_id in repr(first)


def test_key_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path, STRONGROOM_SIGNING_KEY_PATH says where the key lives."""
    monkeypatch.setenv(KEY_PATH_ENV, str(tmp_path / "env.key"))
    key = SigningKey.load()
    assert (tmp_path / "env.key").exists()
    assert SigningKey.load(tmp_path / "env.key").key_id == key.key_id


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key file with group or other permissions is not used."""
    path = tmp_path / "signing.key"
    SigningKey.load(path)
    os.chmod(path, 0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        SigningKey.load(path)


def test_a_missing_key_is_not_created_when_asked_not_to(tmp_path: Path) -> None:
    """load(create=False) of a missing file fails and creates nothing."""
    with pytest.raises(ValidationError):
        SigningKey.load(tmp_path / "absent.key", create=False)
    assert not (tmp_path / "absent.key").exists()


def test_a_key_in_a_missing_folder_is_a_validation_error(tmp_path: Path) -> None:
    """A key path whose folder does not exist fails cleanly, not with a traceback."""
    with pytest.raises(ValidationError, match="cannot use the signing key"):
        SigningKey.load(tmp_path / "absent" / "signing.key")


def test_a_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    """A file that holds no PEM private key is a VALIDATION_ERROR."""
    path = tmp_path / "signing.key"
    path.write_text("not a key")
    os.chmod(path, 0o600)
    with pytest.raises(ValidationError):
        SigningKey.load(path)


# -- signing and verifying -------------------------------------------------------------------


def test_checkpoint_signs_the_head(books: Ledger, key: SigningKey) -> None:
    """The checkpoint is of the current head and its signature verifies with the public key."""
    checkpoint = books.checkpoint(key)
    assert (checkpoint.tenant, checkpoint.seq, checkpoint.hash) == ("t1", *books.head())
    assert (
        checkpoint.at
        == books.get_transaction(books.list_transactions(limit=1000).data[-1].id).created_at
    )
    assert (checkpoint.key_id, checkpoint.public_key) == (key.key_id, key.public_key)
    assert verify_checkpoint(checkpoint, key.public_key)
    assert verify_checkpoint(checkpoint, base64.b64decode(key.public_key))
    assert json.loads(checkpoint.payload) == {
        "tenant": "t1",
        "seq": LAST,
        "hash": checkpoint.hash,
        "at": checkpoint.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if checkpoint.at else None,
    }


def test_signature_fails_with_another_key(books: Ledger, key: SigningKey) -> None:
    """A checkpoint does not verify with a key that did not sign it."""
    assert not verify_checkpoint(books.checkpoint(key), SigningKey.generate().public_key)


@pytest.mark.parametrize(
    "change",
    [
        {"seq": LAST - 1},
        {"hash": "0" * 64},
        {"tenant": "t2"},
        {"at": None},
        {"signature": base64.b64encode(b"\0" * 64).decode()},
        {"signature": "not base64!"},
    ],
    ids=["seq", "hash", "tenant", "at", "signature", "garbage-signature"],
)
def test_tampered_checkpoint_fails(
    books: Ledger, key: SigningKey, change: dict[str, object]
) -> None:
    """Changing any signed field, or the signature, makes verification fail."""
    checkpoint = replace(books.checkpoint(key), **change)  # type: ignore[arg-type]
    assert not verify_checkpoint(checkpoint, key)


def test_checkpoint_time_is_part_of_the_signature(books: Ledger, key: SigningKey) -> None:
    """Moving the time by a microsecond breaks the signature."""
    checkpoint = books.checkpoint(key)
    assert checkpoint.at is not None
    moved = replace(checkpoint, at=checkpoint.at + timedelta(microseconds=1))
    assert not verify_checkpoint(moved, key)


def test_json_round_trip_still_verifies(books: Ledger, key: SigningKey) -> None:
    """A checkpoint saved as JSON and read back verifies and matches the chain."""
    saved = json.dumps(books.checkpoint(key).to_json())
    restored = Checkpoint.from_dict(json.loads(saved))
    assert verify_checkpoint(restored, key)
    assert books.check_checkpoint(restored)


def test_empty_ledger_checkpoint(ledger: Ledger, key: SigningKey) -> None:
    """A ledger with no entry yet is checkpointed at seq 0 with no time."""
    checkpoint = ledger.checkpoint(key)
    assert (checkpoint.seq, checkpoint.at) == (0, None)
    assert verify_checkpoint(checkpoint, key)
    assert ledger.check_checkpoint(checkpoint)


# -- storing -------------------------------------------------------------------------------


def test_checkpoints_are_stored_once_per_head_and_listed(books: Ledger, key: SigningKey) -> None:
    """The same head twice is one checkpoint; a later head adds one; the list is in seq order."""
    first = books.checkpoint(key)
    assert books.checkpoint(key) == first
    books.transfer("user:1", "shop", 1, "USD")
    second = books.checkpoint(key)
    assert second.seq == first.seq + 1
    page = books.list_checkpoints(limit=1)
    assert page.data == [first]
    assert page.next_cursor is not None
    rest = books.list_checkpoints(cursor=page.next_cursor)
    assert (rest.data, rest.next_cursor) == ([second], None)


def test_checkpoints_are_per_tenant(books: Ledger, key: SigningKey) -> None:
    """Another tenant lists none of this tenant's checkpoints and cannot check them."""
    checkpoint = books.checkpoint(key)
    other = books.for_tenant("t2")
    assert other.list_checkpoints().data == []
    with pytest.raises(ValidationError):
        other.check_checkpoint(checkpoint)


def test_a_broken_chain_is_not_signed(books: Ledger, key: SigningKey) -> None:
    """checkpoint refuses (INVALID_STATE) to vouch for a chain that does not verify."""
    with tampering(books) as conn:
        conn.execute(
            update(journal)
            .where(journal.c.tenant_id == books.tenant, journal.c.seq == 2)
            .values(description="edited")
        )
    with pytest.raises(InvalidState):
        books.checkpoint(key)
    assert books.list_checkpoints().data == []


# -- the proof against a rewritten history -------------------------------------------------


def _rechain(conn: Connection, tenant: str, start: int) -> None:
    """Recompute every hash from ``start`` on, as an attacker covering their tracks would."""
    prev = conn.execute(
        select(journal.c.hash).where(journal.c.tenant_id == tenant, journal.c.seq == start - 1)
    ).scalar_one()
    rows = conn.execute(
        select(journal)
        .where(journal.c.tenant_id == tenant, journal.c.seq >= start)
        .order_by(journal.c.seq)
    ).all()
    for row in rows:
        postings = conn.execute(
            select(journal_postings)
            .where(journal_postings.c.tenant_id == tenant, journal_postings.c.seq == row.seq)
            .order_by(journal_postings.c.idx)
        ).all()
        entry = entry_of_row(tenant, row, postings)
        prev = link(prev, entry)
        where = (journal.c.tenant_id == tenant) & (journal.c.seq == row.seq)
        conn.execute(update(journal).where(where).values(hash=prev))
        conn.execute(
            update(transactions)
            .where(transactions.c.tenant_id == tenant, transactions.c.seq == row.seq)
            .values(hash=prev)
        )
    conn.execute(update(ledger_heads).where(ledger_heads.c.tenant_id == tenant).values(hash=prev))


def test_a_rewritten_history_no_longer_matches_the_checkpoint(
    books: Ledger, key: SigningKey
) -> None:
    """Rewrite entry 3 and re-hash the chain after it: verify passes, the checkpoint does not."""
    checkpoint = books.checkpoint(key)
    assert books.check_checkpoint(checkpoint)
    with tampering(books) as conn:
        where = (journal.c.tenant_id == books.tenant) & (journal.c.seq == 3)
        conn.execute(update(journal).where(where).values(description="a different purchase"))
        conn.execute(
            update(transactions)
            .where(transactions.c.tenant_id == books.tenant, transactions.c.seq == 3)
            .values(description="a different purchase")
        )
        _rechain(conn, books.tenant, 3)
    assert books.verify().ok  # a thorough rewrite fools the chain alone...
    assert verify_checkpoint(checkpoint, key)  # ...the saved checkpoint is still genuine...
    assert not books.check_checkpoint(checkpoint)  # ...and proves the history changed


def test_a_checkpoint_of_a_later_head_fails_after_truncation(
    books: Ledger, key: SigningKey
) -> None:
    """Removing the checkpointed entry from the journal is detected."""
    checkpoint = books.checkpoint(key)
    with tampering(books) as conn:
        for table in (journal_postings, journal):
            conn.execute(
                table.delete().where(table.c.tenant_id == books.tenant, table.c.seq == LAST)
            )
    assert not books.check_checkpoint(checkpoint)
