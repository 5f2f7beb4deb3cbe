"""What happens after an email is sent: its links, clicks and opens, bookings, and counters.

`campaign_links` holds each campaign's links (link keys `L1…`, written when the campaign is
created): the click redirect reads its destination from here, never from the URL. `clicks`
holds one row per recorded hit (a link click, or an open of the pixel when `link_key` is NULL)
with truncated values only (PD-6). `conversions` holds bookings attributed to a campaign and a
link, never to a person. `campaign_counters` is what `campaign stats` reads: counts kept up to
date as events and clicks arrive (and, by a trigger, as deliveries change status), so stats
never scan the ledger.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from newsletter.storage.tables import UTCDateTime, _fk, metadata

LINK_KEY_LENGTH = 8

campaign_links = Table(
    "campaign_links",
    metadata,
    Column("campaign_id", Integer, _fk("campaigns.id"), primary_key=True),
    Column("link_key", String(LINK_KEY_LENGTH), primary_key=True),  # L1, L2, … (L0: honeypot)
    Column("url", Text, nullable=False),  # the destination, with campaign-constant UTM values
    Column("kind", String(16), nullable=False),  # consultation | article | unsubscribe | other
    Column("position", Integer, nullable=False),  # reading order in the email
    Column("label", String(200)),  # the link's text, for reports
)

# One row per recorded hit. Truncated values (user-agent family, IP prefix) are cleared after
# 30 days and the rows themselves folded into counters and deleted after 90 days (PD-6).
clicks = Table(
    "clicks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, _fk("campaigns.id"), nullable=False),
    Column("delivery_id", Integer, _fk("deliveries.id"), nullable=False),
    Column("link_key", String(LINK_KEY_LENGTH)),  # NULL: an open of the tracking pixel
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("machine", Boolean, nullable=False),
    Column("reason", String(24)),  # why it counts as a machine: rule name
    Column("ua_family", String(64)),
    Column("ip_prefix", String(48)),
    Index("ix_clicks_delivery_id_occurred_at", "delivery_id", "occurred_at"),
    Index("ix_clicks_occurred_at", "occurred_at"),
)

# A booked consultation, attributed to a campaign and a link at most (never a person). The
# booking system's id is kept only as a keyed hash, for idempotency.
conversions = Table(
    "conversions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("booking_hash", String(64), nullable=False, unique=True),
    Column("source", String(16), nullable=False),  # api | calendly
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("utm_source", String(200)),
    Column("utm_medium", String(200)),
    Column("utm_campaign", String(200)),
    Column("utm_content", String(200)),
    Column("campaign_id", Integer, _fk("campaigns.id", "SET NULL")),
    Column("link_key", String(LINK_KEY_LENGTH)),
)

# scope: '' for the campaign, a link key for one link, `h:YYYY-MM-DDTHH` for one hour.
# Delivery statuses are kept under `status:<status>` by database triggers (migration 0007).
campaign_counters = Table(
    "campaign_counters",
    metadata,
    Column("campaign_id", Integer, _fk("campaigns.id"), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Consecutive soft bounces of one subscriber since their last delivered email (docs/tracking.md).
soft_bounce_streaks = Table(
    "soft_bounce_streaks",
    metadata,
    Column("subscriber_id", Integer, _fk("subscribers.id"), primary_key=True),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
)
