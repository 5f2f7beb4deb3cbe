"""Batch claims, leases and fenced completions (docs/sending.md, "The unit of work").

Every write is a compare-and-set. A completion is fenced by (status, lease owner, attempt):
if the lease was lost meanwhile, the completion changes nothing, and the attempt's evidence
(kept unfenced in send_attempts) resolves the batch later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row

from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import CLAIMABLE, BatchStatus, DeliveryStatus
from newsletter.domain.subscribers import SubscriberStatus
from newsletter.storage.sending_tables import campaigns, deliveries, send_attempts, send_batches
from newsletter.storage.tables import subscribers, suppressions

NOT_SENT = "not_sent"  # an attempt's outcome: its sender abandoned it before the request left
# Outcomes its sender recorded once the request was over, and not accepted: nothing of that
# attempt can still reach anyone (a 429/500/503, a refused connection, or NOT_SENT).
NOT_ACCEPTED = (NOT_SENT, "retry")


def claim(
    conn: Connection, batch_id: int, *, worker: str, now: datetime, lease: timedelta
) -> Row | None:
    """Take the batch if it is claimable, due, and its campaign is sending; else None."""
    sending = (
        select(campaigns.c.id)
        .where(
            campaigns.c.id == send_batches.c.campaign_id,
            campaigns.c.status == CampaignStatus.SENDING.value,
        )
        .exists()
    )
    result = conn.execute(
        update(send_batches)
        .where(
            send_batches.c.id == batch_id,
            send_batches.c.status.in_(CLAIMABLE),
            or_(send_batches.c.next_attempt_at.is_(None), send_batches.c.next_attempt_at <= now),
            sending,
        )
        .values(
            status=BatchStatus.IN_FLIGHT.value,
            attempts=send_batches.c.attempts + 1,
            lease_owner=worker,
            lease_until=now + lease,
            first_attempt_at=func.coalesce(send_batches.c.first_attempt_at, now),
        )
    )
    if result.rowcount != 1:
        return None
    batch = conn.execute(select(send_batches).where(send_batches.c.id == batch_id)).one()
    conn.execute(
        insert(send_attempts).values(
            batch_id=batch_id, attempt=batch.attempts, worker=worker, claimed_at=now
        )
    )
    return batch


def load_recipients(conn: Connection, batch: Row) -> list[Row]:
    """The batch's pending deliveries: what the email needs, and whether the person may still
    be mailed (`eligible`: active and unsuppressed now; suppression is checked at every
    claim, not only at freeze). A read: the claimed batch is ours, so this runs outside the
    write lock."""
    suppressed = (
        select(suppressions.c.id)
        .where(suppressions.c.email_hash == subscribers.c.email_hash)
        .exists()
    )
    eligible = and_(subscribers.c.status == SubscriberStatus.ACTIVE.value, ~suppressed)
    return list(
        conn.execute(
            select(
                deliveries.c.id,
                subscribers.c.email,
                subscribers.c.first_name,
                func.coalesce(eligible, False).label("eligible"),
            )
            .select_from(
                deliveries.outerjoin(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            )
            .where(_in_batch(batch), deliveries.c.status == DeliveryStatus.PENDING.value)
            # Row order: ix_deliveries_batch yields it with no sort. Ordering by subscriber
            # made SQLite walk the (campaign, subscriber) index over the whole campaign for
            # every batch: quadratic over a million recipients.
            .order_by(deliveries.c.id)
        ).all()
    )


def mark_skipped(conn: Connection, delivery_ids: Sequence[int]) -> None:
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(list(delivery_ids)),
            deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.SKIPPED.value, last_error="not active or suppressed at send time"
        )
    )


# Built once: mark_requested runs for every batch, and building a statement costs more CPU
# than executing it (bench/stall_checks.py).
_RENEW_LEASE = (
    update(send_batches)
    .where(
        send_batches.c.id == bindparam("b_id"),
        send_batches.c.status == BatchStatus.IN_FLIGHT.value,
        send_batches.c.lease_owner == bindparam("b_owner"),
        send_batches.c.attempts == bindparam("b_attempt"),
    )
    .values(lease_until=bindparam("b_until"))
)
_NOTE_REQUESTED = (
    update(send_attempts)
    .where(
        send_attempts.c.batch_id == bindparam("b_id"),
        send_attempts.c.attempt == bindparam("b_attempt"),
    )
    .values(requested_at=bindparam("b_now"))
)


def mark_requested(
    conn: Connection, batch: Row, *, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Just before the request, fenced: only while this worker's attempt still holds the
    batch in flight. Renews the lease from `now` and records `requested_at`; from here on a
    lost lease means 'maybe sent'. False: the lease is gone, the attempt must send nothing."""
    key = {"b_id": batch.id, "b_attempt": batch.attempts}
    renewed = conn.execute(_RENEW_LEASE, {**key, "b_owner": worker, "b_until": now + lease})
    if renewed.rowcount != 1:
        return False
    conn.execute(_NOTE_REQUESTED, {**key, "b_now": now})
    return True


def abandon_request(
    conn: Connection, batch: Row, *, worker: str, now: datetime, reason: str
) -> bool:
    """The sender gave up before its request left (its pre-request check failed): record
    that on its own attempt — unfenced, like all evidence, since only this sender could
    have sent for it and it never will — then put the batch back to pending if it still
    holds it. If the reaper took it meanwhile, recovery reads the record (`NOT_SENT`)."""
    conn.execute(
        update(send_attempts)
        .where(send_attempts.c.batch_id == batch.id, send_attempts.c.attempt == batch.attempts)
        .values(finished_at=now, outcome=NOT_SENT, detail=reason[:2000])
    )
    result = conn.execute(
        update(send_batches)
        .where(fenced(batch, worker=worker))
        .values(
            status=BatchStatus.PENDING.value,
            lease_owner=None,
            lease_until=None,
            dispatched_at=None,
            last_error=f"abandoned before sending: {reason}"[:2000],
        )
    )
    return result.rowcount == 1


def record_attempt(
    conn: Connection,
    batch: Row,
    *,
    now: datetime,
    outcome: str,
    http_status: int | None,
    message_id: str | None,
    detail: str,
) -> None:
    """Append the evidence. Never fenced: a 202 recorded here resolves an unknown batch."""
    conn.execute(
        update(send_attempts)
        .where(send_attempts.c.batch_id == batch.id, send_attempts.c.attempt == batch.attempts)
        .values(
            finished_at=now,
            outcome=outcome,
            http_status=http_status,
            message_id=message_id,
            detail=detail[:2000],
        )
    )


def fenced(batch: Row, *, worker: str) -> Any:
    return and_(
        send_batches.c.id == batch.id,
        send_batches.c.status == BatchStatus.IN_FLIGHT.value,
        send_batches.c.lease_owner == worker,
        send_batches.c.attempts == batch.attempts,
    )


def finish_batch(
    conn: Connection,
    batch: Row,
    *,
    worker: str,
    status: BatchStatus,
    delivery_status: DeliveryStatus | None,
    now: datetime,
    **values: Any,
) -> bool:
    """Fenced completion; moves the batch's pending deliveries along with it."""
    result = conn.execute(
        update(send_batches)
        .where(fenced(batch, worker=worker))
        .values(
            status=status.value, lease_owner=None, lease_until=None, dispatched_at=None, **values
        )
    )
    if result.rowcount != 1:
        return False
    if delivery_status is not None:
        extra: dict[str, Any] = (
            {"accepted_at": now} if (delivery_status == DeliveryStatus.ACCEPTED) else {}
        )
        if "last_error" in values and delivery_status != DeliveryStatus.ACCEPTED:
            extra["last_error"] = values["last_error"]
        set_deliveries(conn, batch, delivery_status, **extra)
    return True


def set_deliveries(conn: Connection, batch: Row, status: DeliveryStatus, **values: Any) -> None:
    conn.execute(
        update(deliveries)
        .where(_in_batch(batch), deliveries.c.status == DeliveryStatus.PENDING.value)
        .values(status=status.value, **values)
    )


def split_batch(
    conn: Connection, batch: Row, *, worker: str, groups: Sequence[Sequence[int]], reason: str
) -> bool:
    """Replace a refused batch by child batches holding the given delivery ids."""
    result = conn.execute(
        update(send_batches)
        .where(fenced(batch, worker=worker))
        .values(
            status=BatchStatus.SPLIT.value, lease_owner=None, lease_until=None, last_error=reason
        )
    )
    if result.rowcount != 1:
        return False
    top = (
        conn.scalar(
            select(func.max(send_batches.c.seq)).where(
                send_batches.c.campaign_id == batch.campaign_id
            )
        )
        or 0
    )
    for offset, group in enumerate(groups, 1):
        seq = top + offset
        conn.execute(
            insert(send_batches).values(
                campaign_id=batch.campaign_id,
                seq=seq,
                parent_id=batch.id,
                status=BatchStatus.PENDING.value,
                attempts=0,
            )
        )
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id.in_(list(group)),
                deliveries.c.status == DeliveryStatus.PENDING.value,
            )
            .values(batch_seq=seq)
        )
    return True


def _in_batch(batch: Row) -> Any:
    return and_(deliveries.c.campaign_id == batch.campaign_id, deliveries.c.batch_seq == batch.seq)


def has_accepted_attempt(conn: Connection, batch_id: int) -> str | None:
    """The message id of a recorded 2xx for this batch, if any attempt got one."""
    row = conn.execute(
        select(send_attempts.c.message_id).where(
            send_attempts.c.batch_id == batch_id, send_attempts.c.http_status.in_((200, 202))
        )
    ).first()
    return None if row is None else (row.message_id or "")


def attempt_was_requested(conn: Connection, batch: Row) -> bool:
    """Whether the batch's current attempt may have sent: requested, and not recorded by its
    sender as over and not accepted."""
    return request_state(conn, batch)[0] is not None


def request_state(conn: Connection, batch: Row) -> tuple[datetime | None, bool]:
    """(requested_at, not_accepted) of the batch's current attempt. `requested_at` is None
    when nothing of it can still be sent: never requested, or its sender recorded that it
    was over and not accepted (abandoned before sending, or a definite refusal) — then
    `not_accepted` is True."""
    row = conn.execute(
        select(send_attempts.c.requested_at, send_attempts.c.outcome).where(
            send_attempts.c.batch_id == batch.id, send_attempts.c.attempt == batch.attempts
        )
    ).first()
    if row is None or row.requested_at is None:
        return None, False
    if row.outcome in NOT_ACCEPTED:
        return None, True
    return row.requested_at, False


def release_leases(conn: Connection, owner: str, *, now: datetime, reason: str) -> int:
    """Release every lease of an executor proved dead: never requested → pending at once
    (nothing left); maybe requested → unknown, with `unknown_at` no earlier than the lease's
    end, so recovery judges it exactly as after an expired lease (a request still on its way
    is never resent sooner than before). Compare-and-set on (status, owner, attempt)."""
    held = conn.execute(
        select(send_batches).where(
            send_batches.c.status == BatchStatus.IN_FLIGHT.value,
            send_batches.c.lease_owner == owner,
        )
    ).all()
    for batch in held:
        values: dict[str, Any] = (
            {
                "status": BatchStatus.UNKNOWN.value,
                "unknown_at": max(now, batch.lease_until or now),
                "last_error": f"{reason} after the request may have been sent",
            }
            if attempt_was_requested(conn, batch)
            else {
                "status": BatchStatus.PENDING.value,
                "last_error": f"{reason} before the request was made",
            }
        )
        conn.execute(
            update(send_batches)
            .where(fenced(batch, worker=owner))
            .values(lease_owner=None, lease_until=None, dispatched_at=None, **values)
        )
    return len(held)
