"""The double opt-in confirmation email: its link, and its delivery through the configured
backend (SendGrid, SMTP, or the outbox when the outbox is the backend).

`double_opt_in.request_confirmation` queues the email in the sign-up's own transaction and
sends it right after the commit; a failure leaves it queued, and every engine tick (or
`newsletter subscribers send-confirmations`) retries it with full-jitter backoff
(`NEWSLETTER_RETRY_BASE_S`, `NEWSLETTER_RETRY_CAP_S`), for up to `GIVE_UP_AFTER`. At least
once, not exactly once: when an answer is lost after the request left, the email is sent
again, since a second confirmation is harmless and a lost one is not.

What the provider receives: the address and the rendered email (subject, text, HTML: the
first name and the confirmation link), the transactional sender, category `confirmation`,
and `custom_args` = {send_id: a random id}. No List-Unsubscribe or List-Id: it is not
marketing, and the person is not on a list yet.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Connection, select

from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend, OutgoingBatch, OutgoingRecipient
from newsletter.domain.sending import Action, classify, retry_delay
from newsletter.domain.subscribers import SubscriberStatus
from newsletter.services.suppressions import LIFTABLE
from newsletter.storage import confirmation_queue as queue
from newsletter.storage.database import Database
from newsletter.storage.tables import suppressions

CONFIRM_SALT = "newsletter.confirm-subscription"
CONFIRM_TTL = timedelta(days=7)
GIVE_UP_AFTER = timedelta(hours=24)
Clock = Callable[[], datetime]


def link_serializer(settings: Settings) -> URLSafeTimedSerializer:
    assert settings.secret_key is not None
    # itsdangerous signs with the last key and verifies with any: the ring, oldest first, so
    # a link mailed before a key rotation still confirms.
    secrets = list(reversed(settings.key_ring.lookup_secrets()))
    return URLSafeTimedSerializer(secrets, salt=CONFIRM_SALT)


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/confirm/{token}"


@dataclass(frozen=True)
class ConfirmationDelivery:
    """One attempt: `sent`, `queued` (will be retried), `failed` (given up), `cancelled`
    (no longer wanted), or `busy` (not due, or another sender holds it)."""

    status: str
    detail: str = ""
    send_id: str | None = None
    next_attempt_at: datetime | None = None


def confirmation_batch(settings: Settings, row: Any) -> OutgoingBatch:
    """The rendered email for one queued row (`confirmation_queue.to_send`)."""
    from newsletter.rendering.confirm import render_confirmation

    token = link_serializer(settings).dumps(row.token_id)
    email = render_confirmation(settings, confirm_url=confirm_url(settings, token),
                                first_name=row.first_name)  # fmt: skip
    return OutgoingBatch(
        subject=email.subject,
        html=email.html,
        text=email.text,
        sender_name=settings.transactional_sender_name,
        sender_email=settings.transactional_sender_email,
        reply_to=settings.reply_to,
        list_id="",
        recipients=(OutgoingRecipient(row.email, {}, "", row.send_id),),
        category="confirmation",
    )


def send_confirmation(
    db: Database,
    settings: Settings,
    backend: DeliveryBackend,
    email_id: int,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> ConfirmationDelivery:
    """Claim one due confirmation email, send it (no transaction open), record the answer."""
    clock = clock or (lambda: datetime.now(UTC))
    now = clock()
    with db.write() as conn:
        attempt = queue.claim(conn, email_id, now=now,
                              lease=timedelta(seconds=settings.lease_seconds))  # fmt: skip
        if attempt is None:
            return ConfirmationDelivery("busy", "not due, or another sender has it")
        row = queue.to_send(conn, email_id)
        unwanted = _unwanted(conn, row, now)
        if unwanted:
            queue.settle(conn, email_id, attempt, queue.CANCELLED, now=now, last_error=unwanted)
            return ConfirmationDelivery(queue.CANCELLED, unwanted, row.send_id)
    result = backend.send(confirmation_batch(settings, row))
    now = clock()
    decision = classify(result, live=1, now=now.timestamp())
    values: dict[str, Any] = {"last_error": None}
    status, retry_at = queue.SENT, None
    if decision.action == Action.FAIL:
        status, values = queue.FAILED, {"last_error": decision.reason}
    elif decision.action != Action.ACCEPTED:
        if now - row.created_at >= GIVE_UP_AFTER:
            status, values = queue.FAILED, {"last_error": f"gave up: {decision.reason}"}
        else:
            delay = retry_delay(attempt, not_before_s=decision.not_before_s,
                                base=settings.retry_base_s, cap=settings.retry_cap_s,
                                rng=rng or random.Random())  # fmt: skip
            retry_at = now + timedelta(seconds=delay)
            status, values = queue.QUEUED, {"last_error": decision.reason,
                                            "next_attempt_at": retry_at}  # fmt: skip
    with db.write() as conn:
        if not queue.settle(conn, email_id, attempt, status, now=now, **values):
            return ConfirmationDelivery("busy", "another sender took it over", row.send_id)
    return ConfirmationDelivery(status, decision.reason, row.send_id, retry_at)


def _unwanted(conn: Connection, row: Any, now: datetime) -> str | None:
    """Why a queued confirmation must not be sent any more, if it must not."""
    if row.confirmed_at is not None:
        return "already confirmed"
    if row.expires_at <= now:
        return "the confirmation link expired before the email could be sent"
    if row.subscriber_status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        return "the address bounced or complained"
    reason = conn.scalar(
        select(suppressions.c.reason).where(suppressions.c.email_hash == row.email_hash)
    )
    if reason is not None and reason not in LIFTABLE:
        return "the address is suppressed"
    return None


def send_due_confirmations(
    db: Database,
    settings: Settings,
    backend: DeliveryBackend,
    *,
    clock: Clock | None = None,
    limit: int = 100,
) -> Counter[str]:
    """Send every confirmation email that is due (the engine calls this on each tick)."""
    clock = clock or (lambda: datetime.now(UTC))
    with db.read() as conn:
        due = queue.due_ids(conn, now=clock(), limit=limit)
    outcomes: Counter[str] = Counter()
    for email_id in due:
        outcomes[send_confirmation(db, settings, backend, email_id, clock=clock).status] += 1
    return outcomes
