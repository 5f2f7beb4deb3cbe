"""The audience schema as SQLAlchemy Core tables (no ORM: one fast code path on both databases).

Minimum necessary data (PD-1): subscribers hold contact details, status and self-chosen
topics; custom attributes are only the ones declared in `audiences/attributes.yaml`.
tests/storage/test_schema_privacy.py checks every column name against an allowlist.
Times are stored as naive UTC and returned as aware UTC (`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

EMAIL_LENGTH = 254
NAME_LENGTH = 200


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the column: sorts and compares on both DBs."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _fk(target: str, ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete)


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(EMAIL_LENGTH), nullable=False, unique=True),
    Column("email_hash", String(64), nullable=False),
    Column("first_name", String(NAME_LENGTH)),
    Column("last_name", String(NAME_LENGTH)),
    Column("status", String(16), nullable=False),
    Column("time_zone", String(64)),
    Column("signed_up_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_subscribers_status_signed_up_at", "status", "signed_up_at"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

subscriber_tags = Table(
    "subscriber_tags",
    metadata,
    Column("subscriber_id", Integer, _fk("subscribers.id"), primary_key=True),
    Column("tag_id", Integer, _fk("tags.id"), primary_key=True),
    Index("ix_subscriber_tags_tag_id_subscriber_id", "tag_id", "subscriber_id"),
    sqlite_with_rowid=False,
)

topics = Table(
    "topics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

subscriber_topics = Table(
    "subscriber_topics",
    metadata,
    Column("subscriber_id", Integer, _fk("subscribers.id"), primary_key=True),
    Column("topic_id", Integer, _fk("topics.id"), primary_key=True),
    Index("ix_subscriber_topics_topic_id_subscriber_id", "topic_id", "subscriber_id"),
    sqlite_with_rowid=False,
)

# Declared attributes only; one typed column is filled per row, the others stay NULL.
subscriber_attributes = Table(
    "subscriber_attributes",
    metadata,
    Column("subscriber_id", Integer, _fk("subscribers.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value_text", String(1000)),
    Column("value_number", Float),
    Column("value_date", Date),
    # Partial indexes: each value lands in one typed index, not three (import speed).
    *(
        Index(
            f"ix_subscriber_attributes_{kind}",
            "name",
            f"value_{kind}",
            "subscriber_id",
            sqlite_where=text(f"value_{kind} IS NOT NULL"),
            postgresql_where=text(f"value_{kind} IS NOT NULL"),
        )
        for kind in ("text", "number", "date")
    ),
    sqlite_with_rowid=False,
)


lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("double_opt_in", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscriber_id", Integer, _fk("subscribers.id"), primary_key=True),
    Column("list_id", Integer, _fk("lists.id"), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    # The status a global unsubscribe (a suppression) closed this membership from: what
    # resubscribing without naming a list restores. NULL when a list unsubscribe closed it,
    # or when it was closed before this was recorded (then a list must be named).
    Column("suppressed_from", String(16)),
    Index("ix_subscriptions_list_id_status", "list_id", "status", "subscriber_id"),
    sqlite_with_rowid=False,
)

consent_texts = Table(
    "consent_texts",
    metadata,
    Column("version", String(64), primary_key=True),  # sha256 of the exact wording
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Append-only: rows are inserted, never updated; erasure deletes them with the subscriber.
consent_records = Table(
    "consent_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, _fk("subscribers.id"), nullable=False),
    Column("email", String(EMAIL_LENGTH), nullable=False),
    Column("event", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("method", String(32), nullable=False),
    Column("source", String(300), nullable=False),
    Column("list_id", Integer, _fk("lists.id", "SET NULL")),
    Column("consent_text_version", String(64), ForeignKey("consent_texts.version")),
    Column("ip", String(45)),
    Column("user_agent", String(400)),
    Index("ix_consent_records_subscriber_id_occurred_at", "subscriber_id", "occurred_at"),
)

# Consulted on every send. `email` is NULL after erasure: only the keyed hash remains.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("email", String(EMAIL_LENGTH)),
    Column("reason", String(32), nullable=False),
    Column("source", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

confirmation_requests = Table(
    "confirmation_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_id", String(64), nullable=False, unique=True),  # random, signed into the URL
    Column("subscriber_id", Integer, _fk("subscribers.id"), nullable=False),
    Column("list_id", Integer, _fk("lists.id")),
    Column("email_hash", String(64), nullable=False),
    Column("consent_text_version", String(64), ForeignKey("consent_texts.version")),
    Column("ip", String(45)),
    Column("user_agent", String(400)),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Index("ix_confirmation_requests_email_hash_sent_at", "email_hash", "sent_at"),
    Index("ix_confirmation_requests_subscriber_id", "subscriber_id"),
)

# The confirmation email of each request, queued in the same transaction as the pending
# membership and sent after the commit, so a provider failure loses no email (retried with
# backoff by the engine). Erasure deletes it with the request. `send_id` is random: the only
# thing the provider sees besides the address and the rendered email.
confirmation_emails = Table(
    "confirmation_emails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, _fk("confirmation_requests.id"), nullable=False, unique=True),
    Column("send_id", String(32), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # queued | sending | sent | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_until", UTCDateTime),  # while `sending`: after it, another sender may retry
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_confirmation_emails_status_next_attempt_at", "status", "next_attempt_at"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", String(32), primary_key=True),  # batch id, used as consent source import:<id>
    Column("file_name", String(500), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("list_id", Integer, _fk("lists.id"), nullable=False),
    Column("consent_text_version", String(64), ForeignKey("consent_texts.version")),
    Column("consent_confirmed", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # running | completed
    Column("last_line", Integer, nullable=False, default=0),
    Column("added", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # The rejects report this import wrote (absolute path): an erasure purges the person
    # from it (docs/privacy.md).
    Column("rejects_path", String(1000)),
    Index("ix_imports_file_sha256_list_id", "file_sha256", "list_id", "status"),
)

# Filled by tracking later; segments read it now (opened / clicked within N days).
subscriber_events = Table(
    "subscriber_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, _fk("subscribers.id"), nullable=False),
    Column("event", String(8), nullable=False),
    Column("link_kind", String(16)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_subscriber_events_subscriber", "subscriber_id", "event", "occurred_at"),
)

# Append-only (PD-7): who exported, erased or imported what, and when. Targets are opaque
# (`subscriber:<id>`, `segment:<name>`, `list:<name>`): never an address, so an erasure does
# not have to rewrite history. Database triggers refuse UPDATE and DELETE (migration 0004).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),  # JSON object: counts, batch ids, output kind
    Index("ix_audit_log_occurred_at", "occurred_at"),
)

# Which secret key the address hashes above are made with (`newsletter.keys.database`):
# a public fingerprint per key id, never the key. One row is `current`; keys rotated out
# are `retired` and must stay in the ring (links already mailed carry their id).
secret_keys = Table(
    "secret_keys",
    metadata,
    Column("key_id", String(1), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(8), nullable=False),  # current | retired
    Column("added_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
)
