"""Freeze a campaign's audience into the ledger: one delivery per (campaign, subscriber).

The segment's active, unsuppressed members are numbered in subscriber order and cut into
batches by that number, chunk by chunk (`plan`); each recipient gets its random send id and
token id in the same statement. Re-running after a crash resumes from the last committed
chunk and yields exactly the same batches.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, and_, func, insert, literal, select

from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.domain.subscribers import SubscriberStatus
from newsletter.failpoints import failpoint
from newsletter.services.segments import get_segment
from newsletter.storage import campaign_store
from newsletter.storage.audience_queries import insert_ignoring_conflicts
from newsletter.storage.batch_store import random_id_sql
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import not_suppressed, segment_condition
from newsletter.storage.sending_tables import deliveries, send_batches
from newsletter.storage.tables import subscribers


def start_planning(db: Database, campaign_id: int, *, now: datetime) -> bool:
    """CAS scheduled → planning once the send time has come (a second caller is a no-op)."""
    with db.write() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        if row.status != CampaignStatus.SCHEDULED.value:
            return False
        if row.scheduled_at is not None and row.scheduled_at > now:
            return False
        late = (now - row.scheduled_at).total_seconds() if row.scheduled_at else 0
        if late > row.late_send_window_s:
            return campaign_store.transition(
                conn,
                campaign_id,
                CampaignStatus.MISSED,
                only_from=[CampaignStatus.SCHEDULED.value],
                finished_at=now,
                pause_reason=f"{late / 3600:.1f} h late, past the late-send window",
            )
        moved = campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.PLANNING,
            only_from=[CampaignStatus.SCHEDULED.value],
            started_at=now,
        )
    failpoint("after_campaign_cas")
    return moved


PLAN_CHUNK = 20_000  # recipients frozen per transaction: bounded memory and lock time


def plan(db: Database, audiences_dir: Path, campaign_id: int, *, now: datetime) -> int:
    """Snapshot the audience and cut batches; CAS planning → sending. Returns recipients.

    Chunks of the segment, in subscriber order, each one transaction: the window numbering
    continues from the rows already frozen, so a crash mid-way resumes where it stopped and
    yields exactly the batches an uninterrupted run would have.
    """
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    if row.status != CampaignStatus.PLANNING.value:
        return row.to_send
    segment = get_segment(audiences_dir, row.segment)
    eligible = and_(
        segment_condition(segment.rule, now=now),
        subscribers.c.status == SubscriberStatus.ACTIVE.value,  # confirmed people only
        not_suppressed(),
    )
    while True:
        with db.write() as conn:
            done, last = conn.execute(
                select(func.count(), func.max(deliveries.c.subscriber_id)).where(
                    deliveries.c.campaign_id == campaign_id
                )
            ).one()
            chunk = (
                select(subscribers.c.id)
                .where(eligible, subscribers.c.id > (last or 0))
                .order_by(subscribers.c.id)
                .limit(PLAN_CHUNK)
                .subquery()
            )
            number = func.row_number().over(order_by=chunk.c.id) - 1 + (done or 0)
            conn.execute(
                insert(deliveries).from_select(
                    ["campaign_id", "subscriber_id", "batch_seq", "status", "send_id", "token_id"],
                    select(
                        literal(campaign_id),
                        chunk.c.id,
                        number // row.batch_size,
                        literal(DeliveryStatus.PENDING.value),
                        random_id_sql(db.dialect),
                        random_id_sql(db.dialect),
                    ),
                )
            )
            # Counted, not taken from rowcount: drivers disagree on INSERT … SELECT.
            frozen = _frozen(conn, campaign_id, after=last or 0)
        failpoint("mid_planning")
        if not frozen:
            break
    with db.write() as conn:
        total = _frozen(conn, campaign_id)
        batches = -(-total // row.batch_size)  # the seqs are 0 … batches-1, by construction
        insert_ignoring_conflicts(
            conn,
            send_batches,
            [
                {
                    "campaign_id": campaign_id,
                    "seq": seq,
                    "status": BatchStatus.PENDING.value,
                    "attempts": 0,
                }
                for seq in range(batches)
            ],
        )
        campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.SENDING,
            only_from=[CampaignStatus.PLANNING.value],
            to_send=total,
        )
    return int(total)


def _frozen(conn: Connection, campaign_id: int, *, after: int = 0) -> int:
    """Deliveries of the campaign for subscribers after `after` (the unique index's order)."""
    return int(
        conn.scalar(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.campaign_id == campaign_id, deliveries.c.subscriber_id > after)
        )
        or 0
    )
