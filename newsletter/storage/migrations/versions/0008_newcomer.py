"""campaigns.target and campaigns.time_zone; the confirmation email queue

A campaign names its audience explicitly (`segment:NAME` or `list:NAME`) and keeps the
IANA zone its send time was given in. Existing campaigns become `segment:<their segment>`
in `UTC` (they were scheduled with explicit offsets). Double opt-in confirmation emails are
queued in `confirmation_emails` and sent through the delivery backend, with retries.

Revision ID: 0008_newcomer
Revises: 0004_audit_log
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_newcomer"
down_revision = "0004_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.execute("UPDATE campaigns SET target = 'segment:' || segment, time_zone = 'UTC'")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column("target", existing_type=sa.String(length=120), nullable=False)
        batch_op.alter_column("time_zone", existing_type=sa.String(length=64), nullable=False)
    op.create_table(
        "confirmation_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["confirmation_requests.id"],
            name=op.f("fk_confirmation_emails_request_id_confirmation_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_emails")),
        sa.UniqueConstraint("request_id", name=op.f("uq_confirmation_emails_request_id")),
        sa.UniqueConstraint("send_id", name=op.f("uq_confirmation_emails_send_id")),
    )
    op.create_index(
        "ix_confirmation_emails_status_next_attempt_at",
        "confirmation_emails",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_confirmation_emails_status_next_attempt_at", table_name="confirmation_emails")
    op.drop_table("confirmation_emails")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("target")
