"""subscriptions.suppressed_from: what a global unsubscribe closed, so resubscribing restores
exactly that (and never promotes an unconfirmed membership)

Revision ID: 0009_resubscribe_scope
Revises: 0008_newcomer
Create Date: 2026-12-06 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_resubscribe_scope"
down_revision = "0008_newcomer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("suppressed_from", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("suppressed_from")
