"""deliveries: public ids computed from the primary key (newsletter.delivery_ids)

The random `send_id`/`token_id` columns and their unique indexes go: planning a million
recipients spent two thirds of its time inserting them. Events already stored keep their
link to the delivery through the new `provider_events.delivery_id`. The batch index loses
`status`, which every batch rewrites (a third of the cost of settling a batch).

Revision ID: 0003_computed_delivery_ids
Revises: 0002_sending
Create Date: 2026-11-27 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_computed_delivery_ids"
down_revision = "0002_sending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_provider_events_delivery_id"), ["delivery_id"], unique=False
        )
    op.execute(
        "UPDATE provider_events SET delivery_id = "
        "(SELECT d.id FROM deliveries d WHERE d.send_id = provider_events.send_id) "
        "WHERE send_id IS NOT NULL"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_send_id", type_="unique")
        batch_op.drop_constraint("uq_deliveries_token_id", type_="unique")
        batch_op.drop_column("send_id")
        batch_op.drop_column("token_id")
        batch_op.drop_index("ix_deliveries_batch")
        batch_op.create_index("ix_deliveries_batch", ["campaign_id", "batch_seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_batch")
        batch_op.create_index(
            "ix_deliveries_batch", ["campaign_id", "batch_seq", "status"], unique=False
        )
        batch_op.add_column(sa.Column("token_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("send_id", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_deliveries_token_id", ["token_id"])
        batch_op.create_unique_constraint("uq_deliveries_send_id", ["send_id"])
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_events_delivery_id"))
        batch_op.drop_column("delivery_id")
