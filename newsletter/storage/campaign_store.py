"""Campaign rows: creation, compare-and-set transitions, and the ledger's counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update
from sqlalchemy.engine import Row

from newsletter.domain.campaigns import CampaignStatus, legal_sources
from newsletter.domain.sending import DeliveryStatus
from newsletter.errors import NotFound
from newsletter.storage.database import tuples
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches


def insert_campaign(conn: Connection, values: dict[str, Any]) -> int:
    inserted = conn.execute(insert(campaigns).values(**values)).inserted_primary_key
    assert inserted is not None  # a single-row INSERT always has one
    return int(inserted[0])


def get_campaign(conn: Connection, campaign_id: int) -> Row:
    row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
    if row is None:
        raise NotFound(f"no campaign {campaign_id}", fix="`newsletter campaign list` shows them")
    return row


def transition(
    conn: Connection,
    campaign_id: int,
    target: CampaignStatus,
    *,
    only_from: Iterable[str] | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set: move to `target` only from a status allowed to reach it (from
    `only_from`, when given: each must be allowed by the transition table, else
    IllegalTransition)."""
    allowed = legal_sources(target, only_from)
    result = conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status.in_(allowed))
        .values(status=target.value, **values)
    )
    return result.rowcount == 1


def update_while(conn: Connection, campaign_id: int, status: CampaignStatus, **values: Any) -> bool:
    """Compare-and-set values of a campaign still in `status` (which does not change): a
    draft's content, a scheduled campaign's time. False if it has moved on meanwhile."""
    result = conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status == status.value)
        .values(**values)
    )
    return result.rowcount == 1


def delivery_counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    """Deliveries per status, in one pass with constant memory: a GROUP BY over a million
    rows (no index holds the status) built a 45 MB in-memory sorter on SQLite."""
    statuses = [s.value for s in DeliveryStatus]
    [row] = tuples(
        conn.execute(
            select(
                *(func.sum(case((deliveries.c.status == s, 1), else_=0)) for s in statuses)
            ).where(deliveries.c.campaign_id == campaign_id)
        )
    )
    return {s: int(n) for s, n in zip(statuses, row, strict=True) if n}


def batch_counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(send_batches.c.status, func.count())
        .where(send_batches.c.campaign_id == campaign_id)
        .group_by(send_batches.c.status)
    )
    return {status: int(count) for status, count in tuples(rows)}


def campaigns_in(conn: Connection, statuses: Iterable[str]) -> list[Row]:
    return list(
        conn.execute(
            select(
                campaigns.c.id, campaigns.c.status, campaigns.c.scheduled_at, campaigns.c.time_zone
            )
            .where(campaigns.c.status.in_(tuple(statuses)))
            .order_by(campaigns.c.id)
        )
    )


def start_times(conn: Connection, campaign_ids: Iterable[int]) -> list[Row]:
    """When campaigns were due, started or ended, and their zone: for the engine's log."""
    ids = tuple(dict.fromkeys(campaign_ids))
    if not ids:
        return []
    c = campaigns.c
    return list(
        conn.execute(
            select(c.id, c.status, c.scheduled_at, c.started_at, c.finished_at, c.time_zone,
                   c.late_send_window_s)
            .where(c.id.in_(ids))
            .order_by(c.id)
        )
    )  # fmt: skip
