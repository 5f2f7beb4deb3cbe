"""hardening: the secret key record, rejects reports remembered, addresses re-normalised

- `secret_keys`: which key the stored address hashes use (`newsletter.keys.database`).
- `imports.rejects_path`: the rejects report an import wrote, purged by an erasure.
- Addresses re-normalised with NFKC and IDNA (`newsletter.storage.renormalise`), re-hashed
  under the key the database already uses, duplicates merged. Needs the key ring, which
  `newsletter db upgrade` hands over; the downgrade keeps the new forms (not reversible).

Revision ID: 0006_hardening
Revises: 0007_tracking
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision = "0006_hardening"
down_revision = "0007_tracking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret_keys",
        sa.Column("key_id", sa.String(length=1), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_secret_keys")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejects_path", sa.String(length=1000), nullable=True))
    _renormalise()


def _renormalise() -> None:
    from newsletter.storage.renormalise import renormalise

    config = op.get_context().config
    ring = config.attributes.get("key_ring") if config else None

    def hasher_for(conn: Connection) -> Callable[[str], str]:
        assert ring is not None  # renormalise calls this only when it has a ring
        from newsletter.domain.subscribers import email_hasher
        from newsletter.keys.database import database_key_id

        return email_hasher(ring.secret(database_key_id(conn, ring)))

    renormalise(op.get_bind(), hasher_for if ring is not None else None)


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_column("rejects_path")
    op.drop_table("secret_keys")
