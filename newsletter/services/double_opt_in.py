"""Double opt-in: subscribe → `pending` + confirmation email → confirm → `active`.

The link carries an opaque token: an itsdangerous signature (secret key, purpose salt) over a
random id stored in confirmation_requests, never the address. Abuse limits (F-01): at most
3 confirmation emails per address per 24 hours, at least 10 minutes apart, counted by the
address's keyed hash. Until a delivery layer exists the email is written to the outbox as .eml.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from newsletter.audiences.emails import address_forms, validate_email
from newsletter.config import Settings
from newsletter.domain.subscribers import (
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
    email_hash,
    lookup_hashes,
)
from newsletter.errors import ValidationError
from newsletter.services.subscribers import record_consent, require_list
from newsletter.services.suppressions import LIFTABLE
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

CONFIRM_SALT = "newsletter.confirm-subscription"
CONFIRM_TTL = timedelta(days=7)
MAX_PER_DAY = 3
MIN_INTERVAL = timedelta(minutes=10)


@dataclass(frozen=True)
class ConfirmationOutcome:
    """`sent` False means nothing was mailed (rate limit, already subscribed, suppressed);
    callers must answer the same either way so nobody can probe who is subscribed."""

    sent: bool
    reason: str
    token: str | None = None
    eml_path: Path | None = None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any: the ring, oldest first.
    secrets = list(reversed(settings.key_ring.lookup_secrets()))
    return URLSafeTimedSerializer(secrets, salt=CONFIRM_SALT)


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/confirm/{token}"


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
) -> ConfirmationOutcome:
    """Record the sign-up as pending and send a confirmation email, within the rate limits."""
    now = now or datetime.now(UTC)
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
        reasons = set(
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
            subscriber_id = conn.execute(
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
        conn.execute(
            confirmation_requests.insert().values(
                token_id=token_id, subscriber_id=subscriber_id, list_id=target.id,
                email_hash=digest, consent_text_version=version,
                ip=ip, user_agent=user_agent, sent_at=now, expires_at=now + CONFIRM_TTL,
            )
        )  # fmt: skip
    token = _serializer(settings).dumps(token_id)
    path = write_confirmation_eml(settings, address, first_name, token, now)
    return ConfirmationOutcome(True, "sent", token, path)


def write_confirmation_eml(
    settings: Settings, address: str, first_name: str | None, token: str, now: datetime
) -> Path:
    """Render the `confirm` template and drop it in the outbox (until delivery exists)."""
    from newsletter.rendering.confirm import render_confirmation

    email = render_confirmation(settings, confirm_url=confirm_url(settings, token),
                                first_name=first_name)  # fmt: skip
    message = EmailMessage()
    message["Subject"] = email.subject
    message["From"] = email.sender
    message["To"] = address
    message["Date"] = format_datetime(now)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    outbox = Path(settings.outbox_dir)
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{now:%Y%m%dT%H%M%S}-confirm-{secrets.token_hex(4)}.eml"
    path.write_bytes(bytes(message))
    return path


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
        token_id = _serializer(settings).loads(token, max_age=int(CONFIRM_TTL.total_seconds()))
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
        reasons = set(
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
