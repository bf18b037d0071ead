"""PostgreSQL: check an entry once at commit, not once per posting.

The deferred constraint trigger that refuses unbalanced entries ran for the
journal row and again for each of its postings: three full checks for a
transfer. A posting inserted by the same (top-level) transaction as its journal
row is now skipped, since the journal row's own check at commit sees every
posting of the entry; a posting added later, by another transaction, to an
entry that already exists is still checked in full.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SKIP_OWN_POSTINGS = """
  IF TG_TABLE_NAME = 'journal_postings' THEN
    SELECT xmin::text::bigint INTO entry_xid
      FROM journal WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
    IF entry_xid = txid_current() % 4294967296 THEN
      RETURN NULL;  -- written by this transaction: the journal row's check covers it
    END IF;
  END IF;
"""

CHECK_ENTRY = """
CREATE OR REPLACE FUNCTION strongroom_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  bad record;
  entry_xid bigint;
BEGIN
%(skip)s
  SELECT count(*) INTO n FROM journal WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
  IF n = 0 THEN
    RAISE EXCEPTION 'strongroom: postings of %%/%% have no journal entry', NEW.tenant_id, NEW.seq
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT count(*) INTO n FROM journal_postings WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq;
  IF n < 2 THEN
    RAISE EXCEPTION 'strongroom: journal entry %%/%% has fewer than two postings',
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
    RAISE EXCEPTION 'strongroom: journal entry %%/%% is unbalanced (%%: debits %%, credits %%)',
      NEW.tenant_id, NEW.seq, bad.effect, bad.debits, bad.credits
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_ENTRY % {"skip": SKIP_OWN_POSTINGS})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_ENTRY % {"skip": ""})
