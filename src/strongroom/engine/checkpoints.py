"""Signed checkpoints: the chain head, signed with the server's Ed25519 key.

A checkpoint says "tenant T's chain had hash H at sequence S, whose entry was
written at A", signed over the canonical JSON ``{"at", "hash", "seq",
"tenant"}`` (sorted keys, no white space, UTF-8, ``at`` as RFC 3339 with
microseconds and ``Z``, or ``null`` for an empty chain). Every entry's hash
covers the one before it, so a checkpoint kept outside the database proves the
whole history up to S: if anyone later rewrites, removes or reorders an entry
at or before S, the journal's entry S no longer has hash H
(:func:`matches_chain`), and a forged checkpoint fails :func:`verify_checkpoint`
without the private key.

The private key lives in a file the operator chooses
(``STRONGROOM_SIGNING_KEY_PATH``, default ``./strongroom-signing.key``): PKCS#8
PEM, created with mode 0600 on first use, refused when others can read it, and
never logged or printed. Only its public half leaves the process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection

from strongroom.domain.chain import GENESIS
from strongroom.domain.errors import InvalidState, ValidationError
from strongroom.store import checkpoints as sql
from strongroom.store import queries as q

KEY_PATH_ENV = "STRONGROOM_SIGNING_KEY_PATH"
DEFAULT_KEY_PATH = "./strongroom-signing.key"


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(tenant: str, seq: int, hash_: str, at: datetime | None) -> bytes:
    """The bytes a checkpoint signs."""
    body = {"tenant": tenant, "seq": seq, "hash": hash_, "at": _time(at)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head; ``signature`` and ``public_key`` are base64."""

    tenant: str
    seq: int
    hash: str
    at: datetime | None
    signature: str
    key_id: str
    public_key: str
    created_at: datetime

    @property
    def payload(self) -> bytes:
        return canonical(self.tenant, self.seq, self.hash, self.at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "signature": self.signature,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "payload": self.payload.decode(),
            "created_at": self.created_at,
        }

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_dict` with times as RFC 3339 strings, for files and ``--json``."""
        body = self.to_dict()
        body["at"] = _time(self.at)
        body["created_at"] = _time(self.created_at)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Checkpoint:
        """A checkpoint from its JSON form (``to_json``, the API or the CLI's output)."""
        try:
            return cls(
                tenant=str(body["tenant"]),
                seq=int(body["seq"]),
                hash=str(body["hash"]),
                at=_parse_time(body.get("at")),
                signature=str(body["signature"]),
                key_id=str(body.get("key_id", "")),
                public_key=str(body.get("public_key", "")),
                created_at=_parse_time(body.get("created_at")) or datetime.fromtimestamp(0, UTC),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not a checkpoint: {exc}", loc=("checkpoint",)) from None

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        return cls(
            row.tenant_id, row.seq, row.hash, row.at, row.signature, row.key_id,
            row.public_key, row.created_at,
        )  # fmt: skip


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("checkpoint times are UTC with an offset")
    return moment.astimezone(UTC)


class SigningKey:
    """The server's Ed25519 checkpoint key. Its ``repr`` never shows the secret."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public = private_key.public_key()
        self.key_id = key_id_of(self.public)
        self.public_key = _b64(_raw(self.public))

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> SigningKey:
        """The key in ``path`` (default: $STRONGROOM_SIGNING_KEY_PATH, then
        ./strongroom-signing.key), created with mode 0600 when missing and ``create``."""
        where = Path(path or os.environ.get(KEY_PATH_ENV) or DEFAULT_KEY_PATH)
        try:
            if not where.exists():
                if not create:
                    raise ValidationError(f"no signing key at {where}", loc=("signing_key",))
                _create(where)
            return cls(_read(where))
        except OSError as exc:
            detail = f"cannot use the signing key at {where}: {exc.strerror or exc}"
            raise ValidationError(detail, loc=("signing_key",)) from None

    def sign(self, payload: bytes) -> str:
        return _b64(self._private.sign(payload))


def _create(path: Path) -> None:
    """Write a new key to ``path`` atomically (0600 from the start; the first writer wins)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with suppress(FileExistsError):  # another process created the key meanwhile: use it
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> Ed25519PrivateKey:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ValidationError(
            f"the signing key {path} is readable by other users: chmod 600 it",
            loc=("signing_key",),
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise ValidationError(f"{path} is not a PEM private key", loc=("signing_key",)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(f"{path} is not an Ed25519 key", loc=("signing_key",))
    return key


def public_key_of(value: str | bytes | Ed25519PublicKey | SigningKey) -> Ed25519PublicKey:
    """A public key from base64 or raw bytes (32), a key object, or a SigningKey."""
    if isinstance(value, SigningKey):
        return value.public
    if isinstance(value, Ed25519PublicKey):
        return value
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else value
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise ValidationError("not an Ed25519 public key", loc=("public_key",)) from None


def verify_checkpoint(
    checkpoint: Checkpoint, public_key: str | bytes | Ed25519PublicKey | SigningKey
) -> bool:
    """Whether ``checkpoint`` was signed by ``public_key``'s private key, unaltered.

    The payload is rebuilt from the checkpoint's fields, so changing any of
    tenant, seq, hash or time makes the signature fail.
    """
    key = public_key_of(public_key)
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.payload)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def take(
    conn: Connection, tenant: str, key: SigningKey, seq: int, hash_: str, now: datetime
) -> Checkpoint:
    """Sign the head ``(seq, hash_)`` of ``tenant`` and store it; the stored one if it exists.

    Refuses (INVALID_STATE) when the journal's entry ``seq`` does not carry ``hash_``.
    """
    found = _link(conn, tenant, seq)
    if found is None or found[0] != hash_:
        raise InvalidState(
            f"the head (seq {seq}) does not match the journal: run strongroom verify"
        )
    stored = sql.find(conn, tenant, seq, key.key_id)
    if stored is not None:
        return Checkpoint.from_row(stored)
    at = found[1]
    signature = key.sign(canonical(tenant, seq, hash_, at))
    checkpoint = Checkpoint(tenant, seq, hash_, at, signature, key.key_id, key.public_key, now)
    sql.insert_checkpoint(
        conn,
        {
            "tenant_id": tenant, "seq": seq, "hash": hash_, "at": at, "signature": signature,
            "key_id": key.key_id, "public_key": key.public_key, "created_at": now,
        },
    )  # fmt: skip
    return checkpoint


def _link(conn: Connection, tenant: str, seq: int) -> tuple[str, datetime | None] | None:
    """The hash and time of the journal's entry ``seq`` (the genesis hash for 0), if any."""
    if seq == 0:
        return GENESIS, None
    return q.entry_link(conn, tenant, seq)


def matches_chain(conn: Connection, checkpoint: Checkpoint) -> bool:
    """Whether the journal still has, at the checkpoint's seq, its hash and time."""
    return _link(conn, checkpoint.tenant, checkpoint.seq) == (checkpoint.hash, checkpoint.at)
