"""Recording a booked consultation once, attributed to a campaign and a link at most.

The booking system's id is kept only as a keyed hash (for idempotency: the same booking
reported again changes nothing and gets the first answer back); nothing about the person is
accepted or stored (`attribution.parse_booking`). An attributed booking adds to the
campaign's and the link's `conversions` counters and to its hour on the timeline.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.engagement.attribution import Booking, Candidate, attribute
from newsletter.engagement.bots import hour_scope
from newsletter.storage import counter_store
from newsletter.storage.database import Database, tuples
from newsletter.storage.engagement_tables import campaign_links, conversions
from newsletter.storage.sending_tables import campaigns

#: Links a booking can be attributed to (never the honeypot or the unsubscribe link).
ATTRIBUTABLE = ("consultation", "article", "other")


@dataclass(frozen=True)
class Recorded:
    conversion_id: int
    created: bool  # False: this booking was reported before
    campaign_id: int | None
    link: str | None

    @property
    def attributed(self) -> bool:
        return self.campaign_id is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "conversion_id": self.conversion_id,
            "attributed": self.attributed,
            "campaign_id": self.campaign_id,
            "link": self.link,
        }


def booking_hash(key: str, booking_id: str) -> str:
    return hmac.new(key.encode(), f"booking|{booking_id}".encode(), hashlib.sha256).hexdigest()


def _candidates(conn: Connection, campaign_key: str | None) -> list[Candidate]:
    if not campaign_key:
        return []
    rows = tuples(
        conn.execute(
            select(campaigns.c.id, campaigns.c.started_at).where(campaigns.c.key == campaign_key)
        )
    )
    out = []
    for campaign_id, started_at in rows:
        keys: Iterable[str] = conn.scalars(
            select(campaign_links.c.link_key).where(
                campaign_links.c.campaign_id == campaign_id,
                campaign_links.c.kind.in_(ATTRIBUTABLE),
            )
        )
        out.append(Candidate(campaign_id, started_at, frozenset(keys)))
    return out


def _existing(conn: Connection, hashed: str) -> Recorded | None:
    row = conn.execute(
        select(conversions.c.id, conversions.c.campaign_id, conversions.c.link_key).where(
            conversions.c.booking_hash == hashed
        )
    ).first()
    return None if row is None else Recorded(row.id, False, row.campaign_id, row.link_key)


def record_booking(
    db: Database, booking: Booking, *, key: str, source: str, window_days: int, now: datetime
) -> Recorded:
    hashed = booking_hash(key, booking.booking_id)
    with db.write() as conn:
        found = _existing(conn, hashed)
        if found is not None:
            return found
        campaign_id, link = attribute(
            booking, _candidates(conn, booking.utm.get("campaign")), window_days=window_days
        )
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        inserted = conn.execute(
            dialect.insert(conversions)
            .values(
                booking_hash=hashed,
                source=source,
                occurred_at=booking.occurred_at,
                received_at=now,
                campaign_id=campaign_id,
                link_key=link,
                **{f"utm_{name}": value for name, value in booking.utm.items()},
            )
            .on_conflict_do_nothing()
            .returning(conversions.c.id)
        ).first()
        if inserted is None:  # reported twice at the same moment: the other one won
            existing = _existing(conn, hashed)
            assert existing is not None  # the conflicting row is there: that is the conflict
            return existing
        if campaign_id is not None and link is not None:
            deltas: Counter[counter_store.Key] = Counter()
            for scope in ("", link, hour_scope(booking.occurred_at)):
                deltas[campaign_id, scope, "conversions"] += 1
            counter_store.add_counts(conn, deltas)
        return Recorded(inserted.id, True, campaign_id, link)
