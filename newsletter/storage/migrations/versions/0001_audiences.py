"""audiences: subscribers, lists, consent, suppressions, segments

Revision ID: 0001_audiences
Revises: (none)
Create Date: 2026-11-27 17:29:06.673319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_audiences"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "consent_texts",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_consent_texts")),
    )
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_lists_name")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("signed_up_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email", name=op.f("uq_subscribers_email")),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscribers_status_signed_up_at", ["status", "signed_up_at"], unique=False
        )

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_suppressions_email_hash")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("name", name=op.f("uq_topics_name")),
    )
    op.create_table(
        "confirmation_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("consent_text_version", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_text_version"],
            ["consent_texts.version"],
            name=op.f("fk_confirmation_requests_consent_text_version_consent_texts"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_confirmation_requests_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_confirmation_requests_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_requests")),
        sa.UniqueConstraint("token_id", name=op.f("uq_confirmation_requests_token_id")),
    )
    with op.batch_alter_table("confirmation_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_confirmation_requests_email_hash_sent_at", ["email_hash", "sent_at"], unique=False
        )
        batch_op.create_index(
            "ix_confirmation_requests_subscriber_id", ["subscriber_id"], unique=False
        )

    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("consent_text_version", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_text_version"],
            ["consent_texts.version"],
            name=op.f("fk_consent_records_consent_text_version_consent_texts"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_consent_records_list_id_lists"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_consent_records_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_records_subscriber_id_occurred_at",
            ["subscriber_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("consent_text_version", sa.String(length=64), nullable=True),
        sa.Column("consent_confirmed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_text_version"],
            ["consent_texts.version"],
            name=op.f("fk_imports_consent_text_version_consent_texts"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_imports_list_id_lists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_imports_file_sha256_list_id", ["file_sha256", "list_id", "status"], unique=False
        )

    op.create_table(
        "subscriber_attributes",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_text", sa.String(length=1000), nullable=True),
        sa.Column("value_number", sa.Float(), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_attributes_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "name", name=op.f("pk_subscriber_attributes")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("subscriber_attributes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriber_attributes_date",
            ["name", "value_date", "subscriber_id"],
            unique=False,
            sqlite_where=sa.text("value_date IS NOT NULL"),
            postgresql_where=sa.text("value_date IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_subscriber_attributes_number",
            ["name", "value_number", "subscriber_id"],
            unique=False,
            sqlite_where=sa.text("value_number IS NOT NULL"),
            postgresql_where=sa.text("value_number IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_subscriber_attributes_text",
            ["name", "value_text", "subscriber_id"],
            unique=False,
            sqlite_where=sa.text("value_text IS NOT NULL"),
            postgresql_where=sa.text("value_text IS NOT NULL"),
        )

    op.create_table(
        "subscriber_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("link_kind", sa.String(length=16), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_events_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_events")),
    )
    with op.batch_alter_table("subscriber_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriber_events_subscriber",
            ["subscriber_id", "event", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "subscriber_tags",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_tags_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_subscriber_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "tag_id", name=op.f("pk_subscriber_tags")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("subscriber_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriber_tags_tag_id_subscriber_id", ["tag_id", "subscriber_id"], unique=False
        )

    op.create_table(
        "subscriber_topics",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_topics_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_subscriber_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "topic_id", name=op.f("pk_subscriber_topics")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("subscriber_topics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriber_topics_topic_id_subscriber_id",
            ["topic_id", "subscriber_id"],
            unique=False,
        )

    op.create_table(
        "subscriptions",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_subscriptions_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriptions_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "list_id", name=op.f("pk_subscriptions")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_list_id_status", ["list_id", "status", "subscriber_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_list_id_status")

    op.drop_table("subscriptions")
    with op.batch_alter_table("subscriber_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_topics_topic_id_subscriber_id")

    op.drop_table("subscriber_topics")
    with op.batch_alter_table("subscriber_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_tags_tag_id_subscriber_id")

    op.drop_table("subscriber_tags")
    with op.batch_alter_table("subscriber_events", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_events_subscriber")

    op.drop_table("subscriber_events")
    with op.batch_alter_table("subscriber_attributes", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_subscriber_attributes_text",
            sqlite_where=sa.text("value_text IS NOT NULL"),
            postgresql_where=sa.text("value_text IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_subscriber_attributes_number",
            sqlite_where=sa.text("value_number IS NOT NULL"),
            postgresql_where=sa.text("value_number IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_subscriber_attributes_date",
            sqlite_where=sa.text("value_date IS NOT NULL"),
            postgresql_where=sa.text("value_date IS NOT NULL"),
        )

    op.drop_table("subscriber_attributes")
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index("ix_imports_file_sha256_list_id")

    op.drop_table("imports")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_subscriber_id_occurred_at")

    op.drop_table("consent_records")
    with op.batch_alter_table("confirmation_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmation_requests_subscriber_id")
        batch_op.drop_index("ix_confirmation_requests_email_hash_sent_at")

    op.drop_table("confirmation_requests")
    op.drop_table("topics")
    op.drop_table("tags")
    op.drop_table("suppressions")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_status_signed_up_at")

    op.drop_table("subscribers")
    op.drop_table("lists")
    op.drop_table("consent_texts")
