"""The revocation epoch that servers' API key caches watch.

One row counting the keys ever revoked. Revoking a key increments it in the
same transaction; each serving process reads it every tenth of a second and
forgets its cached keys when it moved. It starts at the number of keys already
revoked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_epoch",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("revocations", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_access_epoch_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_access_epoch"),
    )
    op.execute(
        "INSERT INTO access_epoch (id, revocations) "
        "SELECT 1, count(*) FROM api_keys WHERE revoked_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("access_epoch")
