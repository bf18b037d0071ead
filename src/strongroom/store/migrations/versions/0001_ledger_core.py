"""The ledger core: tenants, units, accounts, the journal, transactions,
idempotency keys and the outbox; append-only and balance triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strongroom.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("journal", "journal_postings")

PG_FUNCTIONS = """
CREATE FUNCTION strongroom_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'strongroom: % is append-only', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION strongroom_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  bad record;
BEGIN
  SELECT count(*) INTO n FROM journal WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
  IF n = 0 THEN
    RAISE EXCEPTION 'strongroom: postings of %/% have no journal entry', NEW.tenant_id, NEW.seq
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT count(*) INTO n FROM journal_postings WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
  IF n < 2 THEN
    RAISE EXCEPTION 'strongroom: journal entry %/% has fewer than two postings',
      NEW.tenant_id, NEW.seq USING ERRCODE = 'check_violation';
  END IF;
  SELECT effect,
         sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END) AS debits,
         sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END) AS credits
    INTO bad
    FROM journal_postings
   WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq
   GROUP BY effect
  HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END)
      <> sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'strongroom: journal entry %/% is unbalanced (%: debits %, credits %)',
      NEW.tenant_id, NEW.seq, bad.effect, bad.debits, bad.credits
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
"""


def _timestamps(*names: str, nullable: bool = False) -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(n, UTCDateTime(), nullable=nullable) for n in names]


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "units",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("exponent", sa.Integer, nullable=False),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "code", name="pk_units"),
        sa.CheckConstraint("exponent >= 0 AND exponent <= 18", name="ck_units_exponent"),
    )
    op.create_table(
        "ledger_heads",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        *_timestamps("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_ledger_heads"),
    )
    op.create_table(
        "accounts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("normal_balance", sa.String(6), nullable=False),
        sa.Column("status", sa.String(6), nullable=False),
        sa.Column("overdraft_limit", sa.BigInteger, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("posted_debits", sa.BigInteger, nullable=False),
        sa.Column("posted_credits", sa.BigInteger, nullable=False),
        sa.Column("pending_debits", sa.BigInteger, nullable=False),
        sa.Column("pending_credits", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        *_timestamps("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_accounts"),
        sa.CheckConstraint(
            "posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0 "
            "AND pending_credits >= 0",
            name="ck_accounts_sums",
        ),
        sa.CheckConstraint(
            "normal_balance IN ('debit', 'credit')", name="ck_accounts_normal_balance"
        ),
        sa.CheckConstraint("status IN ('active', 'frozen', 'closed')", name="ck_accounts_status"),
        sa.CheckConstraint(
            "overdraft_limit IS NULL OR overdraft_limit >= 0", name="ck_accounts_overdraft"
        ),
    )
    op.create_table(
        "journal",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("transaction_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(12), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(64), nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("reverses", sa.String(40), nullable=True),
        *_timestamps("expires_at", nullable=True),
        *_timestamps("created_at"),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_journal"),
        sa.CheckConstraint(
            "type IN ('posted', 'pending', 'post_pending', 'void', 'expire')",
            name="ck_journal_type",
        ),
    )
    op.create_table(
        "journal_postings",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("effect", sa.String(7), nullable=False),
        sa.Column("posted_debits_after", sa.BigInteger, nullable=False),
        sa.Column("posted_credits_after", sa.BigInteger, nullable=False),
        sa.Column("pending_debits_after", sa.BigInteger, nullable=False),
        sa.Column("pending_credits_after", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", "idx", name="pk_journal_postings"),
        sa.CheckConstraint("amount > 0", name="ck_journal_postings_amount"),
        sa.CheckConstraint("side IN ('debit', 'credit')", name="ck_journal_postings_side"),
        sa.CheckConstraint(
            "effect IN ('post', 'pend', 'release')", name="ck_journal_postings_effect"
        ),
    )
    op.create_index(
        "ix_journal_postings_tenant_id_account_id_seq",
        "journal_postings",
        ["tenant_id", "account_id", "seq"],
    )
    op.create_table(
        "transactions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(64), nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("pending_amount_posted", sa.BigInteger, nullable=True),
        sa.Column("reverses", sa.String(40), nullable=True),
        *_timestamps("expires_at", nullable=True),
        sa.Column("finished_seq", sa.BigInteger, nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_transactions"),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_transactions_tenant_id_seq"),
        sa.UniqueConstraint("tenant_id", "reverses", name="uq_transactions_tenant_id_reverses"),
        sa.CheckConstraint(
            "status IN ('posted', 'pending', 'voided', 'expired')", name="ck_transactions_status"
        ),
    )
    op.create_index(
        "ix_transactions_tenant_id_status_expires_at",
        "transactions",
        ["tenant_id", "status", "expires_at"],
    )
    op.create_index(
        "ix_transactions_tenant_id_kind_seq", "transactions", ["tenant_id", "kind", "seq"]
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "outbox",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_outbox"),
        sa.UniqueConstraint("id", name="uq_outbox_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(PG_FUNCTIONS)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION strongroom_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION strongroom_append_only()"
        )
        # Checked at commit, so the engine may insert an entry and then its postings.
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION strongroom_check_entry()"
        )


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'strongroom: {table} is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "outbox",
        "idempotency_keys",
        "transactions",
        "journal_postings",
        "journal",
        "accounts",
        "ledger_heads",
        "units",
        "tenants",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION strongroom_check_entry()")
        op.execute("DROP FUNCTION strongroom_append_only()")
