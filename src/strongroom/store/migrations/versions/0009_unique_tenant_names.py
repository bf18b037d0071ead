"""Tenant names are unique, so ``--tenant acme`` names one tenant.

Tenants created before this revision may share a name. The oldest keeps it;
each later one becomes ``<name> (<id>)``, which is unique because ids are. The
rename is reported by ``strongroom tenants list``; nothing else refers to a
tenant by its name.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_tenants = sa.table(
    "tenants",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_tenants.c.id, _tenants.c.name).order_by(_tenants.c.created_at, _tenants.c.id)
    ).all()
    seen: set[str] = set()
    for row in rows:
        if row.name in seen:
            renamed = f"{row.name[: 200 - len(row.id) - 3]} ({row.id})"
            conn.execute(sa.update(_tenants).where(_tenants.c.id == row.id).values(name=renamed))
            seen.add(renamed)
        else:
            seen.add(row.name)
    op.create_index("ux_tenants_name", "tenants", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_tenants_name", table_name="tenants")
