"""Every email one person was sent, for their GDPR export: campaign deliveries with their
status, and what the provider reported about each (per-delivery details by name)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from newsletter.storage.sending_tables import campaigns, deliveries, provider_events

#: Rows about each delivery: (connection, delivery ids) → {delivery id: [row, …]}.
DetailQuery = Callable[[Connection, Sequence[int]], Mapping[int, list[dict[str, Any]]]]


def sends_of(conn: Connection, subscriber_id: int) -> list[dict[str, Any]]:
    """One entry per campaign email: campaign, subject, date (accepted, else started), status
    and what became of it. `delivery` is the internal id, for the detail queries."""
    d, c = deliveries.c, campaigns.c
    rows = conn.execute(
        select(d.id.label("delivery"), c.id.label("campaign"), c.key.label("campaign_key"),
               c.subject, func.coalesce(d.accepted_at, c.started_at).label("date"),
               d.status, d.accepted_at, d.delivered_at, d.bounce_type, d.drop_reason)
        .join(campaigns, c.id == d.campaign_id)
        .where(d.subscriber_id == subscriber_id)
        .order_by(c.id)
    ).mappings()  # fmt: skip
    return [dict(row) for row in rows]


def provider_events_by_delivery(
    conn: Connection, delivery_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """What SendGrid reported about each delivery (processed, delivered, bounce…), in order."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not delivery_ids:
        return found
    e = provider_events.c
    rows = conn.execute(
        select(e.delivery_id, e.event, e.occurred_at, e.bounce_type, e.reason)
        .where(e.delivery_id.in_(tuple(delivery_ids)))
        .order_by(e.delivery_id, e.occurred_at, e.id)
    )
    for row in rows:
        found[row.delivery_id].append(
            {"event": row.event, "occurred_at": row.occurred_at, "bounce_type": row.bounce_type,
             "reason": row.reason}
        )  # fmt: skip
    return found
