"""The confirmation email queue: one row per confirmation request, claimed with a lease.

A row is `queued` (due at `next_attempt_at`), `sending` (claimed until `lease_until`: after
that a crashed sender's row is due again), then `sent`, `failed` (given up) or `cancelled`
(no longer wanted: confirmed meanwhile, suppressed, expired). Every change after the claim is
fenced by the attempt number, so a sender whose lease was taken over records nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.engine import Row

from newsletter.storage.database import tuples
from newsletter.storage.tables import confirmation_emails, confirmation_requests, subscribers

QUEUED, SENDING, SENT, FAILED, CANCELLED = "queued", "sending", "sent", "failed", "cancelled"
STATUSES = (QUEUED, SENDING, SENT, FAILED, CANCELLED)

_c = confirmation_emails.c


def enqueue(conn: Connection, request_id: int, *, now: datetime) -> int:
    """Queue the email of a confirmation request, due now (in the request's transaction)."""
    return int(
        conn.execute(
            confirmation_emails.insert()
            .values(request_id=request_id, send_id=secrets.token_urlsafe(16), status=QUEUED,
                    attempts=0, next_attempt_at=now, created_at=now)
            .returning(_c.id)
        ).scalar_one()
    )  # fmt: skip


def _due(now: datetime) -> Any:
    return or_(
        and_(_c.status == QUEUED, _c.next_attempt_at <= now),
        and_(_c.status == SENDING, _c.lease_until < now),
    )


def due_ids(conn: Connection, *, now: datetime, limit: int = 100) -> list[int]:
    return list(
        conn.scalars(
            select(_c.id).where(_due(now)).order_by(_c.next_attempt_at, _c.id).limit(limit)
        )
    )


def claim(conn: Connection, email_id: int, *, now: datetime, lease: timedelta) -> int | None:
    """Compare-and-set a due row to `sending`; the attempt number it now owns, or None."""
    attempt = conn.execute(
        update(confirmation_emails)
        .where(_c.id == email_id, _due(now))
        .values(status=SENDING, attempts=_c.attempts + 1, lease_until=now + lease)
        .returning(_c.attempts)
    ).scalar()
    return None if attempt is None else int(attempt)


def to_send(conn: Connection, email_id: int) -> Row:
    """What sending needs: the row, its request (token id, expiry, confirmed?) and the
    person (address, first name, status, keyed hash)."""
    r, s = confirmation_requests.c, subscribers.c
    return conn.execute(
        select(_c.id, _c.send_id, _c.attempts, _c.created_at, r.token_id, r.expires_at,
               r.confirmed_at, s.email, s.first_name, s.status.label("subscriber_status"),
               s.email_hash)
        .join(confirmation_requests, r.id == _c.request_id)
        .join(subscribers, s.id == r.subscriber_id)
        .where(_c.id == email_id)
    ).one()  # fmt: skip


def settle(
    conn: Connection, email_id: int, attempt: int, status: str, *, now: datetime, **values: Any
) -> bool:
    """Record the outcome of attempt `attempt` (fenced: a taken-over sender changes nothing)."""
    if status == SENT:
        values.setdefault("sent_at", now)
    result = conn.execute(
        update(confirmation_emails)
        .where(_c.id == email_id, _c.status == SENDING, _c.attempts == attempt)
        .values(status=status, lease_until=None, **values)
    )
    return result.rowcount == 1


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(_c.status, func.count()).group_by(_c.status))
    return {status: int(n) for status, n in tuples(rows)}


def next_attempt(conn: Connection) -> datetime | None:
    return conn.scalar(select(func.min(_c.next_attempt_at)).where(_c.status == QUEUED))


def status_of(conn: Connection, request_ids: Iterable[int]) -> dict[int, Row]:
    """Each request's email: status, attempts, sent_at (for the GDPR export)."""
    ids = tuple(request_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(_c.request_id, _c.status, _c.attempts, _c.sent_at).where(_c.request_id.in_(ids))
    )
    return {row.request_id: row for row in rows}
