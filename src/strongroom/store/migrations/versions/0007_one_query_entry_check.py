"""PostgreSQL: the check of a new entry at commit in one query, not three.

The deferred constraint trigger on a journal row counted the journal rows of
its seq (the row itself: always one), then its postings, then summed them per
effect. One query over the entry's postings, grouped by effect, now gives both
the count and the sums. A posting row still checks, first, that its entry
exists, and is still skipped when written by the same transaction as its
entry (0005). The errors, their order and their codes are unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECK_ENTRY = """
CREATE OR REPLACE FUNCTION strongroom_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer := 0;
  entry_xid bigint;
  sums record;
  unbalanced boolean := false;
  bad_effect text;
  bad_debits numeric;
  bad_credits numeric;
BEGIN
  IF TG_TABLE_NAME = 'journal_postings' THEN
    SELECT xmin::text::bigint INTO entry_xid
      FROM journal WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'strongroom: postings of %/% have no journal entry', NEW.tenant_id, NEW.seq
        USING ERRCODE = 'check_violation';
    END IF;
    IF entry_xid = txid_current() % 4294967296 THEN
      RETURN NULL;  -- written by this transaction: the journal row's check covers it
    END IF;
  END IF;
  FOR sums IN
    SELECT effect, count(*) AS k,
           sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END) AS debits,
           sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END) AS credits
      FROM journal_postings
     WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq
     GROUP BY effect
  LOOP
    n := n + sums.k;
    IF NOT unbalanced AND sums.debits <> sums.credits THEN
      unbalanced := true;
      bad_effect := sums.effect;
      bad_debits := sums.debits;
      bad_credits := sums.credits;
    END IF;
  END LOOP;
  IF n < 2 THEN
    RAISE EXCEPTION 'strongroom: journal entry %/% has fewer than two postings',
      NEW.tenant_id, NEW.seq USING ERRCODE = 'check_violation';
  END IF;
  IF unbalanced THEN
    RAISE EXCEPTION 'strongroom: journal entry %/% is unbalanced (%: debits %, credits %)',
      NEW.tenant_id, NEW.seq, bad_effect, bad_debits, bad_credits
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_ENTRY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        previous = importlib.import_module(__package__ + ".0005_lighter_entry_check")
        op.execute(previous.CHECK_ENTRY % {"skip": previous.SKIP_OWN_POSTINGS})
