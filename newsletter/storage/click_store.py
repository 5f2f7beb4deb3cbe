"""Click rows (`clicks`): what the recorder reads back and writes, a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from newsletter.storage.audience_queries import chunked
from newsletter.storage.bulk import bulk_insert
from newsletter.storage.database import tuples
from newsletter.storage.engagement_tables import campaign_links, clicks
from newsletter.storage.sending_tables import deliveries
from newsletter.storage.tables import subscriber_events


def deliveries_of(conn: Connection, delivery_ids: Iterable[int]) -> dict[int, Any]:
    """id → (campaign_id, subscriber_id, accepted_at, delivered_at)."""
    found: dict[int, Any] = {}
    for part in chunked(sorted(set(delivery_ids))):
        rows = conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.campaign_id,
                deliveries.c.subscriber_id,
                deliveries.c.accepted_at,
                deliveries.c.delivered_at,
            ).where(deliveries.c.id.in_(part))
        )
        found.update((row.id, row) for row in rows)
    return found


def link_counts(conn: Connection, campaign_ids: Iterable[int]) -> dict[int, int]:
    """How many links a person can see in each campaign's email (not the honeypot, not the
    unsubscribe link)."""
    rows = conn.execute(
        select(campaign_links.c.campaign_id, func.count())
        .where(
            campaign_links.c.campaign_id.in_(sorted(set(campaign_ids))),
            campaign_links.c.kind.not_in(("honeypot", "unsubscribe")),
        )
        .group_by(campaign_links.c.campaign_id)
    )
    return {campaign_id: int(n) for campaign_id, n in tuples(rows)}


def hits_of(conn: Connection, delivery_ids: Iterable[int], *, limit: int) -> list[Any]:
    """The most recent `limit` stored hits of each of these deliveries, with their link's
    kind, oldest first (a window function: a delivery flooded with hits costs no more)."""
    out: list[Any] = []
    for part in chunked(sorted(set(delivery_ids))):
        ranked = (
            select(
                clicks.c.id,
                clicks.c.delivery_id,
                clicks.c.campaign_id,
                clicks.c.link_key,
                clicks.c.occurred_at,
                clicks.c.machine,
                clicks.c.reason,
                func.row_number()
                .over(
                    partition_by=clicks.c.delivery_id,
                    order_by=(clicks.c.occurred_at.desc(), clicks.c.id.desc()),
                )
                .label("recent"),
            )
            .where(clicks.c.delivery_id.in_(part))
            .subquery()
        )
        out.extend(
            conn.execute(
                select(
                    ranked.c.id,
                    ranked.c.delivery_id,
                    ranked.c.link_key,
                    ranked.c.occurred_at,
                    ranked.c.machine,
                    ranked.c.reason,
                    campaign_links.c.kind.label("link_kind"),
                )
                .select_from(ranked)
                .outerjoin(
                    campaign_links,
                    and_(
                        campaign_links.c.campaign_id == ranked.c.campaign_id,
                        campaign_links.c.link_key == ranked.c.link_key,
                    ),
                )
                .where(ranked.c.recent <= limit)
                .order_by(ranked.c.occurred_at, ranked.c.id)
            )
        )
    return out


HIT_COLUMNS = (
    "campaign_id",
    "delivery_id",
    "link_key",
    "occurred_at",
    "machine",
    "reason",
    "ua_family",
    "ip_prefix",
)
EVENT_COLUMNS = ("subscriber_id", "event", "link_kind", "occurred_at")


def insert_hits(conn: Connection, rows: Sequence[tuple]) -> None:
    """Click rows as tuples in HIT_COLUMNS order (`bulk.bulk_insert`: no dict per row)."""
    bulk_insert(conn, clicks, HIT_COLUMNS, rows)


def reclassify(conn: Connection, changes: Sequence[tuple[int, str | None]]) -> None:
    """Set (machine, reason) of stored hits whose classification changed."""
    if changes:
        conn.execute(
            update(clicks)
            .where(clicks.c.id == bindparam("hit_id"))
            .values(machine=bindparam("is_machine"), reason=bindparam("why")),
            [{"hit_id": i, "is_machine": r is not None, "why": r} for i, r in changes],
        )


def add_events(conn: Connection, rows: Sequence[tuple]) -> None:
    """Human clicks and opens for segment rules (`clicked_*_within_days`), EVENT_COLUMNS order."""
    bulk_insert(conn, subscriber_events, EVENT_COLUMNS, rows)


def remove_event(conn: Connection, row: tuple) -> None:
    """Take back one event (EVENT_COLUMNS order) of a hit now known to be a machine's."""
    subscriber_id, event, link_kind, occurred_at = row
    kind = subscriber_events.c.link_kind
    match = select(subscriber_events.c.id).where(
        subscriber_events.c.subscriber_id == subscriber_id,
        subscriber_events.c.event == event,
        subscriber_events.c.occurred_at == occurred_at,
        kind.is_(None) if link_kind is None else kind == link_kind,
    )
    conn.execute(delete(subscriber_events).where(subscriber_events.c.id.in_(match.limit(1))))
