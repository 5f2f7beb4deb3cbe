"""How long per-person engagement is kept (PD-6): truncated values 30 days, rows 90 days.

After 30 days a click row loses its user-agent family and IP prefix; after 90 days it is
deleted, together with the person's click and open events in `subscriber_events`: what it
counted for stays in the campaign's counters (per campaign, per link, per hour), which hold
no person. Runs on the click recorder's thread at start and hourly (`web.app`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update

from newsletter.storage.database import Database
from newsletter.storage.engagement_tables import clicks
from newsletter.storage.tables import subscriber_events

TRUNCATED_DAYS = 30
ROWS_DAYS = 90


@dataclass(frozen=True)
class Purged:
    cleared: int  # rows whose user-agent family and IP prefix were removed
    deleted: int  # click rows deleted
    events: int  # subscriber events deleted


def purge(db: Database, *, now: datetime) -> Purged:
    truncated_before = now - timedelta(days=TRUNCATED_DAYS)
    rows_before = now - timedelta(days=ROWS_DAYS)
    with db.write() as conn:
        cleared = conn.execute(
            update(clicks)
            .where(
                clicks.c.occurred_at < truncated_before,
                or_(clicks.c.ua_family.is_not(None), clicks.c.ip_prefix.is_not(None)),
            )
            .values(ua_family=None, ip_prefix=None)
        ).rowcount
        deleted = conn.execute(delete(clicks).where(clicks.c.occurred_at < rows_before)).rowcount
        events = conn.execute(
            delete(subscriber_events).where(
                subscriber_events.c.occurred_at < rows_before,
                subscriber_events.c.event.in_(("click", "open")),
            )
        ).rowcount
    return Purged(cleared, deleted, events)
