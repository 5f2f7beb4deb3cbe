"""executors: every sending process registers with the lock that proves it alive, and a
batch remembers which executor queued it (so a dead one's queue is not waited for)

Revision ID: 0011_executors
Revises: 0006_hardening
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_executors"
down_revision = "0006_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executors",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_executors")),
        sa.UniqueConstraint("name", name=op.f("uq_executors_name")),
    )
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("dispatched_by")
    op.drop_table("executors")
