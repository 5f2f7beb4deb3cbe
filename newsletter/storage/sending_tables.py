"""The sending ledger: campaigns, batches, per-recipient deliveries, attempts and events.

Our tables are the only source of truth for sending (docs/sending.md): the scheduler is a
clock and Dramatiq a transport. Every state change is a compare-and-set on `status`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from newsletter.storage.tables import UTCDateTime, _fk, metadata


def _segment_target(context: Any) -> str:
    """Rows inserted without a target (older callers) go to their segment."""
    return f"segment:{context.get_current_parameters()['segment']}"


campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(40), nullable=False),  # neutral utm_campaign value
    Column("status", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("segment", String(100), nullable=False),  # never sent anywhere
    # Who gets it: `segment:NAME` (audiences/NAME.yaml) or `list:NAME`; planning reads this.
    # `segment` above keeps the segment's name (or, for other targets, the target itself).
    Column("target", String(120), nullable=False, default=_segment_target),
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("sender_name", String(200), nullable=False),
    Column("sender_email", String(254), nullable=False),
    Column("reply_to", String(254), nullable=False),
    Column("articles_json", Text, nullable=False),  # the article(s), stored with the campaign
    Column("html", Text, nullable=False),  # compiled once, with placeholder tags
    Column("text", Text, nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("unknown_policy", String(8), nullable=False),  # events | hold | resend
    Column("scheduled_at", UTCDateTime),
    Column("time_zone", String(64), nullable=False, default="UTC"),  # IANA, for display
    Column("late_send_window_s", Integer, nullable=False),
    Column("pause_reason", Text),
    Column("to_send", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Index("ix_campaigns_status", "status"),
)

send_batches = Table(
    "send_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, _fk("campaigns.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("parent_id", Integer),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),
    Column("dispatched_at", UTCDateTime),
    Column("dispatched_by", String(64)),  # the executor that queued it (a hint, not a claim)
    Column("first_attempt_at", UTCDateTime),
    Column("unknown_at", UTCDateTime),
    Column("provider_message_id", String(64)),
    Column("last_error", Text),
    UniqueConstraint("campaign_id", "seq"),
    Index("ix_send_batches_campaign_status", "campaign_id", "status"),
    Index("ix_send_batches_status_next", "status", "next_attempt_at"),
)

# One row per (campaign, subscriber): the ledger. Its public ids (the `send_id` SendGrid sees
# in custom_args, the link id signed into unsubscribe/click links) are computed from `id`
# by `newsletter.delivery_ids`, never stored.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, _fk("campaigns.id"), nullable=False),
    Column("subscriber_id", Integer, _fk("subscribers.id", "SET NULL")),
    Column("batch_seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("accepted_at", UTCDateTime),
    Column("processed_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("bounce_type", String(16)),
    Column("drop_reason", String(100)),
    Column("last_error", Text),
    UniqueConstraint("campaign_id", "subscriber_id"),
    # Not `status`: every batch moves its rows' status, and an index on it tripled the cost.
    Index("ix_deliveries_batch", "campaign_id", "batch_seq"),
)

# Append-only evidence of every call, never fenced: a recorded 202 resolves an unknown batch.
send_attempts = Table(
    "send_attempts",
    metadata,
    Column("batch_id", Integer, _fk("send_batches.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("worker", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("requested_at", UTCDateTime),  # set just before the request: NULL = never sent
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16)),
    Column("http_status", Integer),
    Column("message_id", String(64)),
    Column("detail", Text),
)

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("raw_body", LargeBinary, nullable=False),
    Column("processed_at", UTCDateTime),
    Index("ix_webhook_inbox_processed", "processed_at"),
)

provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sg_event_id", String(200), unique=True),
    Column("natural_key", String(400), nullable=False, unique=True),
    Column("send_id", String(64), index=True),  # as received
    Column("delivery_id", Integer, index=True),  # decoded from send_id; None if not ours
    Column("event", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("inbox_id", Integer, _fk("webhook_inbox.id", "SET NULL")),
    Column("reason", Text),
    Column("bounce_type", String(16)),
    Column("applied", Boolean, nullable=False, default=False),
)

# Registered on the same MetaData (tests truncate every table; `clicks` refers to deliveries).
from newsletter.storage import engagement_tables as _engagement_tables  # noqa: E402, F401
