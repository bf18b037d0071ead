"""The one schema, as SQLAlchemy Core tables, for SQLite and PostgreSQL.

Every row carries its tenant. ``journal`` and ``journal_postings`` are append-only
(triggers refuse UPDATE and DELETE); ``accounts`` keep the running sums the
journal implies; ``transactions`` is the client's view of each transaction,
whose status changes as a hold is posted, voided or expires.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from strongroom.domain.transactions import TxStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime with microseconds, on both backends.

    PostgreSQL stores ``timestamptz``; SQLite stores a fixed-width text that sorts
    in time order. Naive datetimes are refused: every time in Strongroom is UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Strongroom stores UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def _tenant() -> Column[str]:
    return Column("tenant_id", String(64), nullable=False)


def _created() -> Column[datetime]:
    return Column("created_at", UTCDateTime(), nullable=False)


tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    _created(),
    Index("ux_tenants_name", "name", unique=True),  # `--tenant NAME` names one tenant
)

units = Table(
    "units",
    metadata,
    _tenant(),
    Column("code", String(16), nullable=False),
    Column("exponent", Integer, nullable=False),
    _created(),
    PrimaryKeyConstraint("tenant_id", "code"),
    CheckConstraint("exponent >= 0 AND exponent <= 18", name="exponent"),
)

ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    _tenant(),
    Column("id", String(128), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("normal_balance", String(6), nullable=False),
    Column("status", String(6), nullable=False),
    Column("overdraft_limit", BigInteger, nullable=True),
    Column("metadata", Text, nullable=False),
    Column("posted_debits", BigInteger, nullable=False),
    Column("posted_credits", BigInteger, nullable=False),
    Column("pending_debits", BigInteger, nullable=False),
    Column("pending_credits", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint(
        "posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0 "
        "AND pending_credits >= 0",
        name="sums",
    ),
    CheckConstraint("normal_balance IN ('debit', 'credit')", name="normal_balance"),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
    CheckConstraint("overdraft_limit IS NULL OR overdraft_limit >= 0", name="overdraft"),
)

journal = Table(
    "journal",
    metadata,
    _tenant(),
    Column("seq", BigInteger, nullable=False),
    Column("transaction_id", String(40), nullable=False),
    Column("type", String(12), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(64), nullable=True),
    Column("metadata", Text, nullable=False),
    Column("reverses", String(40), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    _created(),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("tenant_id", "seq"),
    CheckConstraint("type IN ('posted', 'pending', 'post_pending', 'void', 'expire')", name="type"),
)

journal_postings = Table(
    "journal_postings",
    metadata,
    _tenant(),
    Column("seq", BigInteger, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("side", String(6), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("effect", String(7), nullable=False),
    # The account's running sums right after this posting: statements and
    # balances at a point in time read them instead of summing history.
    Column("posted_debits_after", BigInteger, nullable=False),
    Column("posted_credits_after", BigInteger, nullable=False),
    Column("pending_debits_after", BigInteger, nullable=False),
    Column("pending_credits_after", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "seq", "idx"),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("side IN ('debit', 'credit')", name="side"),
    CheckConstraint("effect IN ('post', 'pend', 'release')", name="effect"),
    Index(None, "tenant_id", "account_id", "seq"),
)

transactions = Table(
    "transactions",
    metadata,
    _tenant(),
    Column("id", String(40), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(64), nullable=True),
    Column("metadata", Text, nullable=False),
    Column("pending_amount_posted", BigInteger, nullable=True),
    Column("reverses", String(40), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("finished_seq", BigInteger, nullable=True),
    Column("hash", String(64), nullable=False),
    _created(),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "seq"),
    # A transaction is reversed at most once (NULLs are distinct on both backends).
    UniqueConstraint("tenant_id", "reverses"),
    CheckConstraint("status IN ('posted', 'pending', 'voided', 'expired')", name="status"),
)

# Partial indexes (0008): each holds only the rows its queries look for, so a
# transaction that is not a pending hold, or has no kind, writes no entry to it.
# The expiry sweep reads pending holds only, however long the history: it asks
# for ``status = 'pending'`` in so many words, which lets either backend's
# planner use the index.
PENDING = TxStatus.PENDING.value
Index(
    None,
    transactions.c.tenant_id,
    transactions.c.expires_at,
    sqlite_where=transactions.c.status == PENDING,
    postgresql_where=transactions.c.status == PENDING,
)
Index(
    None,
    transactions.c.tenant_id,
    transactions.c.kind,
    transactions.c.seq,
    sqlite_where=transactions.c.kind.is_not(None),
    postgresql_where=transactions.c.kind.is_not(None),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _tenant(),
    Column("key", String(255), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=False),
    _created(),
    PrimaryKeyConstraint("tenant_id", "key"),
)

outbox = Table(
    "outbox",
    metadata,
    _tenant(),
    Column("seq", BigInteger, nullable=False),
    Column("id", String(40), nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),
    _created(),
    PrimaryKeyConstraint("tenant_id", "seq"),
    UniqueConstraint("id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _tenant(),
    Column("id", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    _created(),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("key_hash"),
)

access_epoch = Table(
    "access_epoch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revocations", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)
"""One row: how many API keys were ever revoked. Servers' key caches watch it."""

checkpoints = Table(
    "checkpoints",
    metadata,
    _tenant(),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=True),
    Column("signature", String(128), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("public_key", String(64), nullable=False),
    _created(),
    # Ed25519 signatures are deterministic: the same head signed by the same key
    # is one checkpoint, however often it is taken.
    PrimaryKeyConstraint("tenant_id", "seq", "key_id"),
)

# -- events out: webhook endpoints, deliveries, relay cursors, scheduled jobs ---------

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _tenant(),
    Column("id", String(40), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("description", String(200), nullable=False),
    Column("status", String(8), nullable=False),
    Column("disabled_reason", String(200), nullable=True),
    # The signing secret is symmetric, so it is kept (a hash could not sign); it
    # is shown once, when created or rotated. During a rotation's overlap the
    # previous secret signs too, so receivers can switch without losing events.
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_until", UTCDateTime(), nullable=True),
    # The tenant's event sequence when the endpoint was made: it gets later events only.
    Column("after_seq", BigInteger, nullable=False),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("status IN ('enabled', 'disabled')", name="status"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _tenant(),
    Column("id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(9), nullable=False),
    Column("attempts", Integer, nullable=False),
    # Attempts since the delivery was (re)scheduled: the step in the retry schedule.
    Column("round_attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    # A worker that claimed the delivery owns it until the lease ends; a worker
    # killed mid-attempt loses it then, and another tries again.
    Column("lease_owner", String(40), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "endpoint_id", "event_seq"),
    CheckConstraint("status IN ('pending', 'succeeded', 'dead')", name="status"),
    Index(None, "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _tenant(),
    Column("delivery_id", String(40), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("response_excerpt", String(500), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "delivery_id", "number"),
)

relay_cursors = Table(
    "relay_cursors",
    metadata,
    _tenant(),
    Column("sink", String(16), nullable=False),
    # The last outbox sequence this sink has taken in for the tenant.
    Column("seq", BigInteger, nullable=False),
    Column("lease_owner", String(40), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "sink"),
)

scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_run_at", UTCDateTime(), nullable=False),
    Column("last_started_at", UTCDateTime(), nullable=True),
    Column("last_finished_at", UTCDateTime(), nullable=True),
    Column("last_ok", Integer, nullable=True),
    Column("last_detail", Text, nullable=True),
)
