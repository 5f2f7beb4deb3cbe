"""Freeze a campaign's audience into the ledger: one delivery per (campaign, subscriber).

The segment's active, unsuppressed members are numbered in subscriber order and cut into
batches by that number, chunk by chunk (`plan`), never larger than the delivery backend takes
in one call (`fit_to_backend` before planning; `send_batch` cuts a batch frozen for another
backend before anything is marked). A delivery's
public ids are computed from its row id (`newsletter.delivery_ids`), so freezing writes
nothing random. Re-running after a crash resumes from the last committed chunk and
yields exactly the same batches.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, and_, exists, func, insert, literal, select, update

from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.domain.subscribers import SubscriberStatus
from newsletter.failpoints import failpoint
from newsletter.services.segments import target_segment
from newsletter.storage import campaign_store
from newsletter.storage.audience_queries import insert_ignoring_conflicts
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import (
    id_window,
    ids_in_window,
    segment_condition,
    window_end,
)
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches
from newsletter.storage.tables import subscribers


def fit_to_backend(db: Database, max_batch: int) -> int:
    """Cut the batches of scheduled campaigns to what the running backend takes in one call
    (SMTP: one recipient), before any is planned: a campaign created while another backend was
    configured must not freeze batches this one refuses. Returns the campaigns changed.

    Only scheduled ones: a campaign being planned keeps the size its frozen rows are numbered
    by (`_progress`); `send_batch` cuts such a batch to the backend's size before sending."""
    too_big = and_(
        campaigns.c.status == CampaignStatus.SCHEDULED.value, campaigns.c.batch_size > max_batch
    )
    with db.read() as conn:  # the common case finds nothing: don't take the write lock
        if not conn.scalar(select(exists().where(too_big))):
            return 0
    with db.write() as conn:
        return conn.execute(update(campaigns).where(too_big).values(batch_size=max_batch)).rowcount


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

    Windows of `PLAN_CHUNK` subscribers along the primary key, each one transaction: the
    numbering continues from the rows already frozen, so a crash mid-way resumes after the
    last frozen subscriber and yields exactly the batches an uninterrupted run would have.
    """
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    if row.status != CampaignStatus.PLANNING.value:
        return row.to_send
    segment = target_segment(audiences_dir, row.target)
    # The segment's scope already excludes suppressed addresses; a segment that tests status
    # still only ever reaches confirmed people.
    eligible = and_(
        segment_condition(segment.rule, now=now),
        subscribers.c.status == SubscriberStatus.ACTIVE.value,
    )
    cursor = 0  # the last subscriber id looked at
    while True:
        with db.write() as conn:
            if campaign_store.get_campaign(conn, campaign_id).status != row.status:
                return _frozen(conn, campaign_id)  # another planner finished (or it was cancelled)
            done, frozen_to = _progress(conn, campaign_id, row.batch_size)
            cursor = max(cursor, frozen_to)  # another planner may have gone further
            window = id_window(cursor, PLAN_CHUNK)
            end = conn.scalar(window_end(window))
            if end is None:
                break
            chunk = ids_in_window(eligible, window).subquery()
            number = func.row_number().over(order_by=chunk.c.id) - 1 + done
            conn.execute(
                insert(deliveries).from_select(
                    ["campaign_id", "subscriber_id", "batch_seq", "status"],
                    select(
                        literal(campaign_id),
                        chunk.c.id,
                        number // row.batch_size,
                        literal(DeliveryStatus.PENDING.value),
                    ),
                )
            )
        failpoint("mid_planning")
        cursor = end
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


def _progress(conn: Connection, campaign_id: int, batch_size: int) -> tuple[int, int]:
    """(recipients frozen so far, the last subscriber frozen), from index ends only: the
    numbering is dense, so the count is full batches plus the rows of the last one."""
    where = deliveries.c.campaign_id == campaign_id
    last_seq = conn.scalar(select(func.max(deliveries.c.batch_seq)).where(where))
    if last_seq is None:
        return 0, 0
    in_last = conn.scalar(
        select(func.count())
        .select_from(deliveries)
        .where(where, deliveries.c.batch_seq == last_seq)
    )
    last_subscriber = conn.scalar(select(func.max(deliveries.c.subscriber_id)).where(where))
    return last_seq * batch_size + int(in_last or 0), int(last_subscriber or 0)


def _frozen(conn: Connection, campaign_id: int) -> int:
    return int(
        conn.scalar(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.campaign_id == campaign_id)
        )
        or 0
    )
