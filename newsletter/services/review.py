"""Batches held for review (`needs_review`): their evidence, and a person's decision.

A batch is held when its request may have reached the provider and nothing proves either way
(docs/sending.md, "When the outcome is unknown"). A person looks at the evidence and either
accepts it (records it as sent: nobody gets a second copy, some may have got none) or
resends it (everyone in it gets the email, some possibly twice). Both are compare-and-sets on
the batch still being held, logged in the audit log, and finish the campaign when nothing is
left open. The CLI (`newsletter campaign review`) and the web admin call these functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.errors import NotFound, ValidationError
from newsletter.services import recovery
from newsletter.storage import audit_log, batch_store, campaign_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import (
    deliveries,
    provider_events,
    send_attempts,
    send_batches,
)

REVIEWABLE = (
    CampaignStatus.SENDING.value,
    CampaignStatus.PAUSED.value,
    CampaignStatus.NEEDS_REVIEW.value,
)

RESEND_RISK = (
    "Resending sends the email to everyone in these batches again. Their first request may "
    "have reached the provider (that is why they are held): anyone it reached gets a second "
    "copy. Accept instead if the provider's activity log shows them sent."
)


@dataclass(frozen=True)
class Attempt:
    attempt: int
    worker: str
    claimed_at: datetime
    requested_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    http_status: int | None
    message_id: str | None
    detail: str | None


@dataclass(frozen=True)
class HeldBatch:
    """One batch in needs_review and everything known about what happened to it."""

    id: int
    seq: int
    recipients: int
    unknown_at: datetime | None
    last_error: str | None
    attempts: list[Attempt] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)  # provider events seen, by type

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "seq": self.seq,
            "recipients": self.recipients,
            "unknown_since": iso(self.unknown_at),
            "last_error": self.last_error,
            "events": self.events,
            "attempts": [
                {
                    **a.__dict__,
                    "claimed_at": iso(a.claimed_at),
                    "requested_at": iso(a.requested_at),
                    "finished_at": iso(a.finished_at),
                }
                for a in self.attempts
            ],
        }


def list_needs_review(db: Database, campaign_id: int) -> list[HeldBatch]:
    """The campaign's held batches with their evidence, in send order."""
    with db.read() as conn:
        _campaign(conn, campaign_id)
        batches = conn.execute(
            select(send_batches)
            .where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status == BatchStatus.NEEDS_REVIEW.value,
            )
            .order_by(send_batches.c.seq)
        ).all()
        held = []
        for batch in batches:
            attempts = [
                Attempt(**row._mapping)
                for row in conn.execute(
                    select(
                        send_attempts.c.attempt,
                        send_attempts.c.worker,
                        send_attempts.c.claimed_at,
                        send_attempts.c.requested_at,
                        send_attempts.c.finished_at,
                        send_attempts.c.outcome,
                        send_attempts.c.http_status,
                        send_attempts.c.message_id,
                        send_attempts.c.detail,
                    )
                    .where(send_attempts.c.batch_id == batch.id)
                    .order_by(send_attempts.c.attempt)
                )
            ]
            in_batch = (deliveries.c.campaign_id == campaign_id) & (
                deliveries.c.batch_seq == batch.seq
            )
            recipients = conn.scalar(select(func.count()).where(in_batch)) or 0
            events: Counter[str] = Counter(
                dict(
                    conn.execute(
                        select(provider_events.c.event, func.count())
                        .join(deliveries, deliveries.c.id == provider_events.c.delivery_id)
                        .where(in_batch)
                        .group_by(provider_events.c.event)
                    ).all()
                )
            )
            held.append(
                HeldBatch(
                    batch.id,
                    batch.seq,
                    recipients,
                    batch.unknown_at,
                    batch.last_error,
                    attempts,
                    dict(sorted(events.items())),
                )
            )
    return held


def accept(
    db: Database, campaign_id: int, batch_ids: Sequence[int], actor: str, now: datetime
) -> int:
    """Record the batches as sent (their deliveries accepted); returns the recipients."""
    return _resolve(db, campaign_id, batch_ids, actor=actor, now=now, resend=False)


def resend(
    db: Database, campaign_id: int, batch_ids: Sequence[int], actor: str, now: datetime
) -> int:
    """Queue the batches to be sent again (the duplicate risk is RESEND_RISK: the caller
    must have had it confirmed); returns the recipients."""
    return _resolve(db, campaign_id, batch_ids, actor=actor, now=now, resend=True)


def _resolve(
    db: Database,
    campaign_id: int,
    batch_ids: Sequence[int],
    *,
    actor: str,
    now: datetime,
    resend: bool,
) -> int:
    wanted = list(dict.fromkeys(batch_ids))
    if not wanted:
        raise ValidationError("no batch given", where="batch ids", fix=_list_fix(campaign_id))
    with db.write() as conn:
        row = _campaign(conn, campaign_id)
        batches = {
            b.id: b
            for b in conn.execute(
                select(send_batches).where(
                    send_batches.c.campaign_id == campaign_id, send_batches.c.id.in_(wanted)
                )
            )
        }
        unknown = [i for i in wanted if i not in batches]
        if unknown:
            raise NotFound(
                f"campaign {campaign_id} has no batch {', '.join(map(str, unknown))}",
                where="batch ids",
                fix=_list_fix(campaign_id),
            )
        not_held = [
            f"{i} is {batches[i].status}" for i in wanted if batches[i].status != "needs_review"
        ]
        if not_held:
            raise ValidationError(
                f"only batches held for review can be resolved: batch {'; '.join(not_held)}",
                where="batch ids",
                fix=_list_fix(campaign_id),
            )
        if row.status not in REVIEWABLE:
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}",
                fix="review applies to campaigns that are sending, paused or need review",
            )
        recipients = 0
        for batch_id in wanted:
            batch = batches[batch_id]
            held = (send_batches.c.id == batch_id) & (
                send_batches.c.status == BatchStatus.NEEDS_REVIEW.value
            )
            by = f"by {actor} at review"
            if resend:
                values: dict[str, Any] = {
                    "status": BatchStatus.PENDING.value,
                    "next_attempt_at": None,
                    "first_attempt_at": None,  # a fresh retry window
                    "dispatched_at": None,
                    "unknown_at": None,
                    "last_error": f"resent {by}",
                }
            else:
                values = {"status": BatchStatus.ACCEPTED.value, "last_error": f"accepted {by}"}
            if conn.execute(update(send_batches).where(held).values(**values)).rowcount != 1:
                raise ValidationError(  # rolled back: nothing half-written
                    f"batch {batch_id} changed while you were deciding",
                    fix=_list_fix(campaign_id),
                )
            recipients += _move_deliveries(conn, batch, resend=resend, now=now)
        if resend:
            campaign_store.transition(
                conn,
                campaign_id,
                CampaignStatus.SENDING,
                only_from=[CampaignStatus.NEEDS_REVIEW.value],
            )
        audit_log.record(
            conn,
            actor=actor,
            action="campaign-review-resend" if resend else "campaign-review-accept",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={"batches": wanted, "recipients": recipients},
        )
    recovery.finish_campaigns(db, now=now)
    return recipients


def _move_deliveries(conn: Connection, batch: Any, *, resend: bool, now: datetime) -> int:
    held = (
        (deliveries.c.campaign_id == batch.campaign_id)
        & (deliveries.c.batch_seq == batch.seq)
        & (deliveries.c.status == DeliveryStatus.NEEDS_REVIEW.value)
    )
    if resend:
        values: dict[str, Any] = {"status": DeliveryStatus.PENDING.value, "last_error": None}
    else:
        values = {"status": DeliveryStatus.ACCEPTED.value, "accepted_at": now}
    moved = conn.execute(update(deliveries).where(held).values(**values)).rowcount
    if not resend:  # a held batch with rows still pending (never frozen as held): settle them
        batch_store.set_deliveries(conn, batch, DeliveryStatus.ACCEPTED, accepted_at=now)
    return moved


def _campaign(conn: Connection, campaign_id: int) -> Any:
    return campaign_store.get_campaign(conn, campaign_id)  # NotFound names the campaign


def _list_fix(campaign_id: int) -> str:
    return f"see the held batches with `newsletter campaign review {campaign_id}`"
