"""Double opt-in: subscribe → `pending` + confirmation email → confirm → `active`.

The link carries an opaque token: an itsdangerous signature (secret key, purpose salt) over a
random id stored in confirmation_requests, never the address. Abuse limits (F-01): at most
3 confirmation emails per address per 24 hours, at least 10 minutes apart, counted by the
address's keyed hash. The email is queued in the same transaction as the pending membership
and sent through the delivery backend after the commit; a failure leaves it queued for the
engine to retry (`confirmation_mail`), so no sign-up loses its email.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import func, select, update

from newsletter.audiences.emails import address_forms, validate_email
from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend
from newsletter.domain.subscribers import (
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
    email_hash,
    lookup_hashes,
)
from newsletter.errors import ValidationError
from newsletter.services.confirmation_mail import (
    CONFIRM_TTL,
    ConfirmationDelivery,
    confirm_url,
    link_serializer,
    send_confirmation,
)
from newsletter.services.subscribers import record_consent, require_list
from newsletter.services.suppressions import LIFTABLE
from newsletter.storage import confirmation_queue
from newsletter.storage.audience_queries import (
    ensure_consent_text,
    insert_ignoring_conflicts,
    subscriber_by_email,
)
from newsletter.storage.database import Database
from newsletter.storage.tables import (
    confirmation_requests,
    subscribers,
    subscriptions,
    suppressions,
)

__all__ = ["ConfirmationOutcome", "confirm_subscription", "confirm_url", "request_confirmation"]

MAX_PER_DAY = 3
MIN_INTERVAL = timedelta(minutes=10)


@dataclass(frozen=True)
class ConfirmationOutcome:
    """`requested` False means no email is owed (rate limit, already subscribed, suppressed);
    callers must answer the same either way so nobody can probe who is subscribed.
    `delivery` is the first attempt, when a backend was given (else the engine sends it)."""

    requested: bool
    reason: str
    token: str | None = None
    email_id: int | None = None
    delivery: ConfirmationDelivery | None = None


def request_confirmation(
    db: Database,
    settings: Settings,
    *,
    email: str,
    list_name: str,
    consent_text: str,
    source: str,
    first_name: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
    backend: DeliveryBackend | None = None,
) -> ConfirmationOutcome:
    """Record the sign-up as pending and queue its confirmation email, within the rate limits,
    in one transaction; then, with a `backend`, send it once (a failure stays queued).
    A `now` given by the caller is also the clock of that first attempt."""
    now, clock = (datetime.now(UTC), None) if now is None else (now, _fixed(now))
    if not consent_text.strip():
        raise ValidationError("the consent wording shown on the form is required")
    try:
        address = validate_email(email)
    except ValueError as exc:
        raise ValidationError(f"{email!r} is not a valid address: {exc}") from None
    key = settings.key_ring
    digest = email_hash(key, address)
    lookups = lookup_hashes(key, address_forms(email))  # every key, both normal forms
    with db.write() as conn:
        target = require_list(conn, list_name)
        reasons: set[str] = set(
            conn.scalars(
                select(suppressions.c.reason).where(suppressions.c.email_hash.in_(lookups))
            )
        )
        if reasons - LIFTABLE:
            return ConfirmationOutcome(False, "suppressed")
        row = subscriber_by_email(conn, address)
        if row is not None and row.status in (
            SubscriberStatus.BOUNCED,
            SubscriberStatus.COMPLAINED,
        ):
            return ConfirmationOutcome(False, "suppressed")
        membership = None
        if row is not None:
            membership = conn.scalar(
                select(subscriptions.c.status).where(
                    subscriptions.c.subscriber_id == row.id, subscriptions.c.list_id == target.id
                )
            )
            if row.status == SubscriberStatus.ACTIVE and membership == "active":
                return ConfirmationOutcome(False, "already subscribed")
        recent = conn.execute(
            select(func.count(), func.max(confirmation_requests.c.sent_at)).where(
                confirmation_requests.c.email_hash == digest,
                confirmation_requests.c.sent_at > now - timedelta(hours=24),
            )
        ).one()
        last = recent[1].replace(tzinfo=UTC) if recent[1] is not None else None
        if recent[0] >= MAX_PER_DAY or (last is not None and now - last < MIN_INTERVAL):
            return ConfirmationOutcome(False, "rate limited")
        if row is None:
            subscriber_id: int = conn.execute(
                subscribers.insert().values(
                    email=address, email_hash=digest, first_name=first_name,
                    status=SubscriberStatus.PENDING.value, signed_up_at=now, created_at=now,
                    updated_at=now,
                ).returning(subscribers.c.id)
            ).scalar_one()  # fmt: skip
        else:
            subscriber_id = row.id
            first_name = first_name or row.first_name
        insert_ignoring_conflicts(
            conn,
            subscriptions,
            [{"subscriber_id": subscriber_id, "list_id": target.id, "status": "pending",
              "created_at": now, "updated_at": now}],
        )  # fmt: skip
        record_consent(
            conn, subscriber_id=subscriber_id, email=address, event=ConsentEvent.CONSENT_GIVEN,
            method=ConsentMethod.WEB_FORM_DOUBLE_OPTIN, source=source, list_id=target.id,
            consent_text=consent_text, ip=ip, user_agent=user_agent, now=now,
        )  # fmt: skip
        token_id = secrets.token_urlsafe(24)
        version = ensure_consent_text(conn, consent_text, now)
        request_id: int = conn.execute(
            confirmation_requests.insert().values(
                token_id=token_id, subscriber_id=subscriber_id, list_id=target.id,
                email_hash=digest, consent_text_version=version,
                ip=ip, user_agent=user_agent, sent_at=now, expires_at=now + CONFIRM_TTL,
            ).returning(confirmation_requests.c.id)
        ).scalar_one()  # fmt: skip
        email_id = confirmation_queue.enqueue(conn, request_id, now=now)
    token = link_serializer(settings).dumps(token_id)
    delivery = None
    if backend is not None:
        delivery = send_confirmation(db, settings, backend, email_id, clock=clock)
    return ConfirmationOutcome(True, "queued", token, email_id, delivery)


def confirm_subscription(
    db: Database,
    settings: Settings,
    token: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> str:
    """Confirm a pending sign-up; returns the address. Idempotent for an already used token."""
    now = now or datetime.now(UTC)
    invalid = ValidationError(
        "this confirmation link is invalid or has expired",
        fix="sign up again to receive a new link",
    )
    try:
        token_id = link_serializer(settings).loads(token, max_age=int(CONFIRM_TTL.total_seconds()))
    except (SignatureExpired, BadSignature):
        raise invalid from None
    with db.write() as conn:
        request = conn.execute(
            select(confirmation_requests).where(confirmation_requests.c.token_id == token_id)
        ).first()
        if request is None or request.expires_at <= now:
            raise invalid
        row = conn.execute(
            select(subscribers).where(subscribers.c.id == request.subscriber_id)
        ).one()
        if request.confirmed_at is not None:
            return row.email
        if row.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
            raise invalid
        lookups = [row.email_hash, *lookup_hashes(settings.key_ring, [row.email])]
        reasons: set[str] = set(
            conn.scalars(
                select(suppressions.c.reason).where(suppressions.c.email_hash.in_(lookups))
            )
        )
        if reasons - LIFTABLE:
            raise invalid
        # A fresh, confirmed opt-in is the one thing that lifts an unsubscribe or erasure
        # (under every key of the ring: erasures from before a rotation too).
        conn.execute(suppressions.delete().where(suppressions.c.email_hash.in_(lookups)))
        conn.execute(
            update(subscribers).where(subscribers.c.id == row.id)
            .values(status=SubscriberStatus.ACTIVE.value, updated_at=now)
        )  # fmt: skip
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.subscriber_id == row.id,
                   subscriptions.c.list_id == request.list_id)
            .values(status="active", confirmed_at=now, updated_at=now, unsubscribed_at=None)
        )  # fmt: skip
        conn.execute(
            update(confirmation_requests)
            .where(confirmation_requests.c.id == request.id)
            .values(confirmed_at=now)
        )
        record_consent(
            conn, subscriber_id=row.id, email=row.email,
            event=ConsentEvent.DOUBLE_OPTIN_CONFIRMED, method=ConsentMethod.WEB_FORM_DOUBLE_OPTIN,
            source=f"confirmation:{request.id}", list_id=request.list_id, ip=ip,
            user_agent=user_agent, now=now,
        )  # fmt: skip
        return row.email


def _fixed(now: datetime) -> Callable[[], datetime]:
    """A clock that always says `now` (the caller's time, for the first attempt too)."""
    return lambda: now
