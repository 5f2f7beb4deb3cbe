"""Recovery and bookkeeping, run at start-up and on every engine tick (all idempotent).

- reap expired leases: never requested (or abandoned by its sender) → pending; maybe
  sent → unknown;
- resolve unknown batches from evidence (a recorded 2xx, or any provider event carrying one
  of the batch's send ids); a batch whose sender recorded its attempt as over and not
  accepted ("abandoned before sending", or a definite refusal) goes back to pending;
  otherwise nothing is decided while its request might still be in flight
  or its events still on the way: until lease + request deadline + webhook grace have
  passed since the RECORDED request time (docs/sending.md, "Stalls"). Then the campaign's
  policy — `events`: re-send only once an event received after that instant proves the feed
  healthy; `hold`: needs_review; `resend` (opt-in): re-send;
- finish campaigns with no open batch; start scheduled campaigns that are due.
Every transition is a compare-and-set on the status it read, so two engines, or a reaper
racing a worker, cannot undo each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select, update

from newsletter.domain.campaigns import CampaignStatus, final_status
from newsletter.domain.sending import OPEN_BATCH, BatchStatus, DeliveryStatus
from newsletter.services import leases
from newsletter.services.planning import plan, start_planning
from newsletter.storage import batch_store, campaign_store, executors
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import (
    campaigns,
    deliveries,
    provider_events,
    send_batches,
)

MAX_UNKNOWN_WAIT = timedelta(hours=24)  # then a person decides (needs_review)


def reap_expired(db: Database, *, now: datetime) -> int:
    """Leases of executors proved dead (at once), and in-flight batches whose lease ran out:
    pending if the request never left, else unknown."""
    released = leases.release_dead(db, now=now)
    with db.read() as conn:  # the common case finds nothing: don't take the write lock
        if not conn.scalar(
            select(
                exists().where(
                    send_batches.c.status == BatchStatus.IN_FLIGHT.value,
                    send_batches.c.lease_until < now,
                )
            )
        ):
            return released
    with db.write() as conn:
        expired = conn.execute(
            select(send_batches).where(
                send_batches.c.status == BatchStatus.IN_FLIGHT.value,
                send_batches.c.lease_until < now,
            )
        ).all()
        for batch in expired:
            requested = batch_store.attempt_was_requested(conn, batch)  # and maybe accepted
            values = (
                {
                    "status": BatchStatus.UNKNOWN.value,
                    "unknown_at": now,
                    "last_error": "lease expired after the request may have been sent",
                }
                if requested
                else {
                    "status": BatchStatus.PENDING.value,
                    "last_error": "lease expired before the request was made",
                }
            )
            conn.execute(
                update(send_batches)
                .where(
                    send_batches.c.id == batch.id,
                    send_batches.c.status == BatchStatus.IN_FLIGHT.value,
                    send_batches.c.attempts == batch.attempts,
                    send_batches.c.lease_until == batch.lease_until,
                )
                .values(lease_owner=None, lease_until=None, dispatched_at=None, **values)
            )
    return released + len(expired)


def _has_event_evidence(conn, batch) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        conn.scalar(
            select(
                exists().where(
                    provider_events.c.delivery_id == deliveries.c.id,
                    deliveries.c.campaign_id == batch.campaign_id,
                    deliveries.c.batch_seq == batch.seq,
                )
            )
        )
    )


def evidence_due(requested_at: datetime, *, lease: timedelta, request: timedelta,
                 grace: timedelta) -> datetime:  # fmt: skip
    """When a request recorded at `requested_at` is over for sure, and its events in: its
    sender checked (on a monotonic clock) that the renewed lease outlived the whole request
    deadline, the deadline bounds the request, and the grace bounds the webhook's lag."""
    return requested_at + lease + request + grace


def resolve_unknown(
    db: Database, *, now: datetime, grace: timedelta, lease: timedelta, request: timedelta
) -> dict[str, int]:
    """Settle unknown batches (see the module docstring); `request` is the whole-request
    deadline (NEWSLETTER_SENDGRID_TIMEOUT)."""
    counts = {"accepted": 0, "resend": 0, "needs_review": 0, "waiting_for_feed": 0, "unsent": 0}
    with db.read() as conn:
        unknown = conn.execute(
            select(send_batches, campaigns.c.unknown_policy)
            .join(campaigns, campaigns.c.id == send_batches.c.campaign_id)
            .where(send_batches.c.status == BatchStatus.UNKNOWN.value)
        ).all()
        if not unknown:
            return counts
        # The newest event received: the last row inserted (ids grow with arrival).
        newest_event = conn.scalar(
            select(provider_events.c.received_at).order_by(provider_events.c.id.desc()).limit(1)
        )
    for batch in unknown:
        with db.write() as conn:
            guard = and_(
                send_batches.c.id == batch.id,
                send_batches.c.status == BatchStatus.UNKNOWN.value,
                send_batches.c.attempts == batch.attempts,
            )
            message_id = batch_store.has_accepted_attempt(conn, batch.id)
            if message_id is not None or _has_event_evidence(conn, batch):
                if conn.execute(
                    update(send_batches)
                    .where(guard)
                    .values(
                        status=BatchStatus.ACCEPTED.value,
                        provider_message_id=message_id,
                        last_error="resolved as accepted from provider evidence",
                    )
                ).rowcount:
                    batch_store.set_deliveries(
                        conn, batch, DeliveryStatus.ACCEPTED, accepted_at=now
                    )
                    counts["accepted"] += 1
                continue
            requested_at, not_accepted = batch_store.request_state(conn, batch)
            if not_accepted:  # its sender recorded the attempt over, unaccepted: pending now
                if _to_pending(conn, guard, "its sender recorded the attempt as not accepted"):
                    counts["unsent"] += 1
                continue
            settled_at = evidence_due(
                requested_at or batch.unknown_at, lease=lease, request=request, grace=grace
            )
            due = settled_at <= now
            policy = batch.unknown_policy
            healthy = newest_event is not None and newest_event >= settled_at
            if not due:
                continue  # its request may still be in flight, or its events on the way
            if policy == "hold" or (policy == "events" and now - settled_at > MAX_UNKNOWN_WAIT):
                if conn.execute(
                    update(send_batches).where(guard).values(status=BatchStatus.NEEDS_REVIEW.value)
                ).rowcount:
                    batch_store.set_deliveries(
                        conn, batch, DeliveryStatus.NEEDS_REVIEW, last_error=batch.last_error
                    )
                    counts["needs_review"] += 1
            elif policy == "resend" or healthy:
                if _to_pending(conn, guard, "no provider evidence after the grace period: re-sent"):
                    counts["resend"] += 1
            else:
                counts["waiting_for_feed"] += 1  # the caller asks for a test event
    return counts


def _to_pending(conn: Connection, guard: Any, reason: str) -> bool:
    """Compare-and-set an unknown batch (`guard`) back to pending, to be claimed again."""
    moved = conn.execute(
        update(send_batches)
        .where(guard)
        .values(
            status=BatchStatus.PENDING.value,
            next_attempt_at=None,
            dispatched_at=None,
            last_error=reason,
        )
    )
    return bool(moved.rowcount)


def _has_open_batch(conn: Connection, campaign_id: int) -> bool:
    return bool(
        conn.scalar(
            select(
                exists().where(
                    send_batches.c.campaign_id == campaign_id, send_batches.c.status.in_(OPEN_BATCH)
                )
            )
        )
    )


def finish_campaigns(db: Database, *, now: datetime) -> list[tuple[int, str]]:
    """Campaigns whose batches are all settled become sent / sent_with_errors / needs_review."""
    finished = []
    with db.read() as conn:
        candidates: Sequence[int] = conn.scalars(
            select(campaigns.c.id).where(
                campaigns.c.status.in_(
                    (CampaignStatus.SENDING.value, CampaignStatus.NEEDS_REVIEW.value)
                )
            )
        ).all()
    for campaign_id in candidates:
        with db.read() as conn:  # a cheap read first: no write lock while batches are busy
            if _has_open_batch(conn, campaign_id):
                continue
        with db.write() as conn:
            if _has_open_batch(conn, campaign_id):
                continue
            counts = campaign_store.delivery_counts(conn, campaign_id)
            if counts.get(DeliveryStatus.PENDING.value):
                continue  # a pending delivery without an open batch would be a bug: never finish
            status = final_status(
                failed=counts.get(DeliveryStatus.FAILED.value, 0),
                needs_review=counts.get(DeliveryStatus.NEEDS_REVIEW.value, 0),
            )
            row = campaign_store.get_campaign(conn, campaign_id)
            if row.status == status.value or row.status not in (
                CampaignStatus.SENDING.value,
                CampaignStatus.NEEDS_REVIEW.value,
            ):
                continue  # cancelled or paused since the candidates were read
            if campaign_store.transition(
                conn, campaign_id, status, only_from=[row.status], finished_at=now
            ):
                finished.append((campaign_id, status.value))
    return finished


def start_due(db: Database, audiences_dir: Path, *, now: datetime) -> list[int]:
    """Start scheduled campaigns whose time has come and finish interrupted planning."""
    started = []
    with db.read() as conn:
        rows = campaign_store.campaigns_in(
            conn, (CampaignStatus.SCHEDULED.value, CampaignStatus.PLANNING.value)
        )
    for row in rows:
        if row.status == CampaignStatus.SCHEDULED.value and not start_planning(db, row.id, now=now):
            continue
        with db.read() as conn:
            if campaign_store.get_campaign(conn, row.id).status != "planning":
                continue
        plan(db, audiences_dir, row.id, now=now)
        started.append(row.id)
    return started


def due_batches(
    db: Database,
    *,
    now: datetime,
    lease: timedelta,
    limit: int = 200,
    campaign_id: int | None = None,
    dispatcher: str | None = None,
) -> list[int]:
    """Claimable batches of sending campaigns; marks them as queued by `dispatcher`.

    A mark is only a hint against queueing a batch twice (the claim itself is the CAS), and
    it is honoured only while the executor that made it is registered (alive, as far as
    anyone proved) or is the caller, and for at most one lease: a batch queued by a process
    that died goes at once (its executor is forgotten when proved dead, first in the tick)."""
    query = (
        select(send_batches.c.id)
        .join(campaigns, campaigns.c.id == send_batches.c.campaign_id)
        .where(
            campaigns.c.status == CampaignStatus.SENDING.value,
            send_batches.c.status.in_((BatchStatus.PENDING.value, BatchStatus.RETRY_WAIT.value)),
            or_(send_batches.c.next_attempt_at.is_(None), send_batches.c.next_attempt_at <= now),
            or_(
                send_batches.c.dispatched_at.is_(None),
                send_batches.c.dispatched_at < now - lease,
                ~or_(
                    send_batches.c.dispatched_by == (dispatcher or ""),
                    send_batches.c.dispatched_by.in_(select(executors.executors.c.name)),
                ),
            ),
        )
        .order_by(send_batches.c.campaign_id, send_batches.c.seq)
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(send_batches.c.campaign_id == campaign_id)
    with db.read() as conn:
        ids: list[int] = list(conn.scalars(query))
    if ids:
        with db.write() as conn:
            conn.execute(
                update(send_batches)
                .where(send_batches.c.id.in_(ids))
                .values(dispatched_at=now, dispatched_by=dispatcher)
            )
    return ids


def in_doubt(
    db: Database, campaign_id: int, *, lease: timedelta, request: timedelta, grace: timedelta
) -> tuple[int, datetime | None]:
    """(batches, until): the campaign's `unknown` batches whose request may have reached the
    provider, and when the last of them is past `evidence_due` (then events have settled it,
    or its policy decides). `until` is None when there are none."""
    with db.read() as conn:
        unknown = conn.execute(
            select(send_batches).where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status == BatchStatus.UNKNOWN.value,
            )
        ).all()
        due = [
            evidence_due(
                batch_store.request_state(conn, batch)[0] or batch.unknown_at,
                lease=lease,
                request=request,
                grace=grace,
            )
            for batch in unknown
        ]
    return len(unknown), max(due, default=None)
