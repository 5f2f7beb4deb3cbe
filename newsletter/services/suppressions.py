"""Suppression: unsubscribe, resubscribe, and the eligibility checks every send makes.

Suppressions are keyed by the HMAC of the normalised address (email_hash), so they keep
working after erasure deletes the address itself. They are sticky: the first reason wins,
and imports never lift them; only a new consent (resubscribe) does, and never for
complaints or hard bounces.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from newsletter.audiences.emails import address_forms, normalize_email
from newsletter.domain.subscribers import (
    STATUS_FOR_REASON,
    STICKY_STATUSES,
    ConsentEvent,
    ConsentMethod,
    HashKey,
    SubscriberStatus,
    SubscriptionStatus,
    SuppressionReason,
    email_hash,
    lookup_hashes,
)
from newsletter.errors import ValidationError
from newsletter.services.subscribers import record_consent, require_list, require_subscriber
from newsletter.storage.audience_queries import (
    chunked,
    insert_ignoring_conflicts,
    subscriber_by_email,
    suppressed_hashes,
)
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import not_suppressed
from newsletter.storage.tables import lists, subscribers, subscriptions, suppressions

#: Suppressions a person may lift by giving consent again.
LIFTABLE = frozenset(
    {
        SuppressionReason.UNSUBSCRIBE_ONE_CLICK,
        SuppressionReason.UNSUBSCRIBE_FOOTER,
        SuppressionReason.STAFF,
        SuppressionReason.ERASURE,
    }
)


def suppress_in(
    conn: Connection,
    *,
    key: str,
    email: str,
    reason: SuppressionReason,
    source: str,
    now: datetime,
) -> None:
    """Suppress an address inside the caller's transaction and mark the subscriber, if any."""
    address = normalize_email(email)
    insert_ignoring_conflicts(
        conn,
        suppressions,
        [
            {
                "email_hash": email_hash(key, address),
                "email": address,
                "reason": reason.value,
                "source": source,
                "created_at": now,
            }
        ],
    )
    row = subscriber_by_email(conn, address)
    if row is None:
        return
    status = STATUS_FOR_REASON[reason]
    # A bounce or complaint outranks an unsubscribe; never the other way round.
    if row.status not in STICKY_STATUSES or status != SubscriberStatus.UNSUBSCRIBED:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == row.id)
            .values(status=status.value, updated_at=now)
        )
    # Record what this closes, so a resubscribe restores exactly that (see `resubscribe`).
    conn.execute(
        update(subscriptions)
        .where(
            subscriptions.c.subscriber_id == row.id,
            subscriptions.c.status != SubscriptionStatus.UNSUBSCRIBED.value,
        )
        .values(
            suppressed_from=subscriptions.c.status,
            status=SubscriptionStatus.UNSUBSCRIBED.value,
            updated_at=now,
            unsubscribed_at=now,
        )
    )
    staff = reason == SuppressionReason.STAFF
    record_consent(
        conn,
        subscriber_id=row.id,
        email=address,
        event=ConsentEvent.WITHDRAWN,
        method=ConsentMethod.STAFF_ENTRY if staff else ConsentMethod.API,
        source=f"{reason.value}:{source}",
        now=now,
    )


def suppress_address(
    db: Database,
    *,
    key: str,
    email: str,
    reason: SuppressionReason,
    source: str,
    now: datetime | None = None,
) -> None:
    """Suppress an address (unsubscribe link, bounce, complaint, staff) in its own transaction."""
    with db.write() as conn:
        suppress_in(
            conn, key=key, email=email, reason=reason, source=source, now=now or datetime.now(UTC)
        )


def unsubscribe(
    db: Database,
    *,
    key: str,
    email: str,
    source: str,
    list_name: str | None = None,
    now: datetime | None = None,
) -> None:
    """Staff unsubscribe: from one list, or (no list) from everything, with a suppression."""
    now = now or datetime.now(UTC)
    with db.write() as conn:
        row = require_subscriber(conn, email)
        if list_name is None:
            suppress_in(
                conn, key=key, email=row.email, reason=SuppressionReason.STAFF, source=source,
                now=now,
            )  # fmt: skip
            return
        target = require_list(conn, list_name)
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.subscriber_id == row.id, subscriptions.c.list_id == target.id)
            .values(status="unsubscribed", updated_at=now, unsubscribed_at=now,
                    suppressed_from=None)
        )  # fmt: skip
        record_consent(
            conn,
            subscriber_id=row.id,
            email=row.email,
            event=ConsentEvent.WITHDRAWN,
            method=ConsentMethod.STAFF_ENTRY,
            source=f"staff:{source}",
            list_id=target.id,
            now=now,
        )


def resubscribe(
    db: Database,
    *,
    key: str,
    email: str,
    consent_text: str,
    source: str,
    list_name: str | None = None,
    now: datetime | None = None,
    method: ConsentMethod = ConsentMethod.STAFF_ENTRY,
) -> list[str]:
    """Bring back someone who unsubscribed, only with a new consent record (never a bounce or
    complaint: those addresses must not be mailed again). Returns the lists now active.

    Without `list_name`, only the memberships the global unsubscribe closed come back, each to
    the status it had (an unconfirmed double opt-in stays unconfirmed); lists the person left
    one by one stay left. When what the unsubscribe closed was not recorded (it predates the
    record), a list must be named. With `list_name`, that list alone: an unsubscribed or
    missing membership becomes active on the strength of the new consent; a pending one stays
    pending (only the person's own confirmation promotes it). `method` says who gave the
    consent: staff, or the person on the preference page."""
    now = now or datetime.now(UTC)
    if not consent_text.strip():
        raise ValidationError("resubscribing needs the new consent wording", fix='--consent "…"')
    with db.write() as conn:
        row = require_subscriber(conn, email)
        reason = conn.scalar(
            select(suppressions.c.reason).where(suppressions.c.email_hash == row.email_hash)
        )
        if row.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED) or (
            reason is not None and reason not in LIFTABLE
        ):
            raise ValidationError(
                f"{row.email} {reason or row.status}: it cannot be resubscribed",
                fix="addresses that bounced or complained are never mailed again",
            )
        target = require_list(conn, list_name) if list_name else None
        if target is None:
            _restore_suppressed_memberships(conn, row, now)
        else:
            _resubscribe_to(conn, row.id, target, now)
        conn.execute(delete(suppressions).where(suppressions.c.email_hash == row.email_hash))
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == row.id)
            .values(status=SubscriberStatus.ACTIVE.value, updated_at=now)
        )
        record_consent(
            conn,
            subscriber_id=row.id,
            email=row.email,
            event=ConsentEvent.RESUBSCRIBED,
            method=method,
            source=f"{'staff' if method == ConsentMethod.STAFF_ENTRY else 'web'}:{source}",
            list_id=target.id if target is not None else None,
            consent_text=consent_text,
            now=now,
        )
        return list(
            conn.scalars(
                select(lists.c.name)
                .join(subscriptions, subscriptions.c.list_id == lists.c.id)
                .where(
                    subscriptions.c.subscriber_id == row.id,
                    subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
                )
                .order_by(lists.c.name)
            )
        )


class RestoreUnknown(ValidationError):
    """Which lists a resubscribe restores is not recorded: the caller must name one."""


def _restore_suppressed_memberships(conn: Connection, row: Any, now: datetime) -> None:
    """Undo exactly what the global unsubscribe closed; refuse when that is not known (someone
    on no list at all simply becomes mailable again, for segments)."""
    closed = conn.execute(
        select(lists.c.name, subscriptions.c.suppressed_from)
        .join(lists, lists.c.id == subscriptions.c.list_id)
        .where(
            subscriptions.c.subscriber_id == row.id,
            subscriptions.c.status == SubscriptionStatus.UNSUBSCRIBED.value,
        )
        .order_by(lists.c.name)
    ).all()
    if closed and not any(suppressed_from for _, suppressed_from in closed):
        names = ", ".join(name for name, _ in closed)
        raise RestoreUnknown(
            f"which lists {row.email} should be restored to is not recorded (left: {names})",
            fix="name the list with --list NAME (the new consent then covers that list)",
        )
    conn.execute(
        update(subscriptions)
        .where(
            subscriptions.c.subscriber_id == row.id,
            subscriptions.c.status == SubscriptionStatus.UNSUBSCRIBED.value,
            subscriptions.c.suppressed_from.is_not(None),
        )
        .values(
            status=subscriptions.c.suppressed_from,
            suppressed_from=None,
            unsubscribed_at=None,
            updated_at=now,
        )
    )


def _resubscribe_to(conn: Connection, subscriber_id: int, target: Any, now: datetime) -> None:
    """One list on a new consent. What a global unsubscribe closed comes back as it was (an
    unconfirmed membership stays pending); a list left on its own, or never joined, becomes
    active — except a double opt-in list, where only the person's confirmation does that."""
    this = and_(
        subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.list_id == target.id
    )
    membership = conn.execute(
        select(subscriptions.c.status, subscriptions.c.suppressed_from).where(this)
    ).first()
    if membership is not None and membership.status != SubscriptionStatus.UNSUBSCRIBED:
        return  # active stays active; pending waits for the person's confirmation
    if membership is not None and membership.suppressed_from is not None:
        status = membership.suppressed_from
    elif target.double_opt_in:
        raise ValidationError(
            f"{target.name!r} is a double opt-in list",
            fix="the person must confirm by email: use `newsletter subscribers add` "
            "(or the web form)",
        )
    else:
        status = SubscriptionStatus.ACTIVE.value
    if membership is None:
        conn.execute(
            insert(subscriptions).values(
                subscriber_id=subscriber_id, list_id=target.id, status=status,
                created_at=now, updated_at=now, confirmed_at=now,
            )
        )  # fmt: skip
        return
    conn.execute(
        update(subscriptions)
        .where(this)
        .values(status=status, suppressed_from=None, unsubscribed_at=None, updated_at=now)
    )


def is_suppressed(db: Database, *, key: HashKey, email: str) -> bool:
    """Under any form of the address and any key of the ring (`lookup_hashes`)."""
    with db.read() as conn:
        return bool(suppressed_hashes(conn, lookup_hashes(key, address_forms(email))))


def eligible_subscriber_ids(db: Database, subscriber_ids: Iterable[int]) -> set[int]:
    """The ids that may be mailed right now: active and not suppressed (checked at claim time)."""
    ids = sorted(set(subscriber_ids))
    eligible: set[int] = set()
    with db.read() as conn:
        for part in chunked(ids):
            eligible.update(
                conn.scalars(
                    select(subscribers.c.id).where(
                        subscribers.c.id.in_(part),
                        subscribers.c.status == SubscriberStatus.ACTIVE.value,
                        not_suppressed(),
                    )
                )
            )
    return eligible
