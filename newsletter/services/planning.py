"""Freeze a campaign's audience into the ledger: one delivery per (campaign, subscriber).

One INSERT … SELECT over the segment's active, unsuppressed members, numbered in subscriber
order and cut into batches by that number — so re-running after a crash (the statement is
atomic, and conflicts are ignored) yields exactly the same batches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, literal, select

from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.domain.subscribers import SubscriberStatus
from newsletter.failpoints import failpoint
from newsletter.services.segments import get_segment
from newsletter.storage import campaign_store
from newsletter.storage.batch_store import random_id_sql
from newsletter.storage.audience_queries import insert_ignoring_conflicts
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import segment_ids_query
from newsletter.storage.sending_tables import deliveries, send_batches
from newsletter.storage.tables import subscribers, suppressions


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


def plan(db: Database, audiences_dir, campaign_id: int, *, now: datetime) -> int:
    """Snapshot the audience and cut batches; CAS planning → sending. Returns recipients."""
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    if row.status != CampaignStatus.PLANNING.value:
        return row.to_send
    segment = get_segment(audiences_dir, row.segment)
    members = segment_ids_query(segment.rule, now=now).subquery()
    number = func.row_number().over(order_by=subscribers.c.id) - 1
    eligible = select(
        literal(campaign_id).label("campaign_id"),
        subscribers.c.id.label("subscriber_id"),
        (number // row.batch_size).label("batch_seq"),
        literal(DeliveryStatus.PENDING.value).label("status"),
        random_id_sql(db.dialect).label("send_id"),
        random_id_sql(db.dialect).label("token_id"),
    ).where(
        subscribers.c.id.in_(select(members.c.id)),
        subscribers.c.status == SubscriberStatus.ACTIVE.value,
        ~select(suppressions.c.id)
        .where(suppressions.c.email_hash == subscribers.c.email_hash)
        .exists(),
    )
    with db.write() as conn:
        existing = conn.scalar(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.campaign_id == campaign_id)
        )
        if not existing:
            conn.execute(
                insert(deliveries).from_select(
                    ["campaign_id", "subscriber_id", "batch_seq", "status", "send_id", "token_id"],
                    eligible,
                )
            )
        failpoint("mid_planning")
        seqs = conn.scalars(
            select(deliveries.c.batch_seq).where(deliveries.c.campaign_id == campaign_id).distinct()
        ).all()
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
                for seq in seqs
            ],
        )
        total = (
            conn.scalar(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.campaign_id == campaign_id)
            )
            or 0
        )
        campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.SENDING,
            only_from=[CampaignStatus.PLANNING.value],
            to_send=total,
        )
    return int(total)
