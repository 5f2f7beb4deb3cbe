"""GDPR: export everything we hold about one person (Art. 20) and erase it (Art. 17).

Erasure deletes the subscriber and, by cascade, memberships, tags, topics, attributes,
consent records, confirmation requests and engagement events. What remains is one
suppression row holding only the keyed hash (HMAC-SHA256) of the normalised address, the
date and the reason, so the address is never mailed or imported again (legitimate interest,
to be confirmed by counsel; see reliability-security.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update

from newsletter.audiences.attributes import AttributeSpec, stored_value
from newsletter.audiences.emails import normalize_email
from newsletter.domain.subscribers import SuppressionReason, email_hash
from newsletter.errors import NotFound
from newsletter.services.subscribers import require_subscriber, subscriber_profile
from newsletter.storage import audit_log, confirmation_queue, send_history
from newsletter.storage.audience_queries import insert_ignoring_conflicts, subscriber_by_email
from newsletter.storage.database import Database
from newsletter.storage.tables import (
    confirmation_requests,
    consent_records,
    consent_texts,
    lists,
    subscriber_events,
    subscribers,
    subscriptions,
    suppressions,
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


#: What each sent email carries in the export besides its status, by name: a query from
#: the person's delivery ids to rows per delivery. Click tracking registers `clicks` here
#: (`SEND_DETAILS["clicks"] = …`) once clicks are recorded; every entry appears on every send.
SEND_DETAILS: dict[str, send_history.DetailQuery] = {
    "events": send_history.provider_events_by_delivery,
}


def gdpr_export(
    db: Database,
    email: str,
    *,
    actor: str = "cli",
    now: datetime | None = None,
    specs: Mapping[str, AttributeSpec] | None = None,
) -> dict[str, Any]:
    """All data about one person as JSON-ready values (recorded in the audit log); `specs`
    (the declared attributes) type the attribute values."""
    profile = subscriber_profile(db, email)
    profile["attributes"] = {
        name: stored_value((specs or {}).get(name), value)
        for name, value in profile["attributes"].items()
    }
    with db.read() as conn:
        row = require_subscriber(conn, email)
        memberships = conn.execute(
            select(lists.c.name.label("list"), subscriptions.c.status, subscriptions.c.created_at,
                   subscriptions.c.confirmed_at, subscriptions.c.unsubscribed_at)
            .join(lists, lists.c.id == subscriptions.c.list_id)
            .where(subscriptions.c.subscriber_id == row.id)
        ).mappings().all()  # fmt: skip
        consents = (
            conn.execute(
                select(
                    consent_records.c.event,
                    consent_records.c.occurred_at,
                    consent_records.c.method,
                    consent_records.c.source,
                    consent_records.c.email,
                    lists.c.name.label("list"),
                    consent_records.c.consent_text_version,
                    consent_texts.c.text.label("consent_text"),
                    consent_records.c.ip,
                    consent_records.c.user_agent,
                )
                .outerjoin(lists, lists.c.id == consent_records.c.list_id)
                .outerjoin(
                    consent_texts, consent_texts.c.version == consent_records.c.consent_text_version
                )
                .where(consent_records.c.subscriber_id == row.id)
                .order_by(consent_records.c.occurred_at, consent_records.c.id)
            )
            .mappings()
            .all()
        )
        confirmations = conn.execute(
            select(confirmation_requests.c.id, confirmation_requests.c.sent_at,
                   confirmation_requests.c.confirmed_at, confirmation_requests.c.ip,
                   confirmation_requests.c.user_agent)
            .where(confirmation_requests.c.subscriber_id == row.id)
            .order_by(confirmation_requests.c.sent_at)
        ).mappings().all()  # fmt: skip
        emails = confirmation_queue.status_of(conn, [c["id"] for c in confirmations])
        sends = send_history.sends_of(conn, row.id)
        delivery_ids = [send.pop("delivery") for send in sends]
        for name, query in SEND_DETAILS.items():
            per_delivery = query(conn, delivery_ids)
            for send, delivery_id in zip(sends, delivery_ids, strict=True):
                send[name] = list(per_delivery.get(delivery_id, []))
        events = conn.execute(
            select(subscriber_events.c.event, subscriber_events.c.link_kind,
                   subscriber_events.c.occurred_at)
            .where(subscriber_events.c.subscriber_id == row.id)
            .order_by(subscriber_events.c.occurred_at)
        ).mappings().all()  # fmt: skip
        suppression = (
            conn.execute(
                select(
                    suppressions.c.reason, suppressions.c.source, suppressions.c.created_at
                ).where(suppressions.c.email_hash == row.email_hash)
            )
            .mappings()
            .first()
        )
    with db.write() as conn:
        audit_log.record(conn, actor=actor, action="gdpr-export", target=f"subscriber:{row.id}",
                         now=now or datetime.now(UTC))  # fmt: skip
    return _jsonable(
        {
            "profile": profile,
            "memberships": [dict(m) for m in memberships],
            "consent_history": [dict(c) for c in consents],
            "confirmation_requests": [_confirmation(c, emails.get(c["id"])) for c in confirmations],
            "engagement": [dict(e) for e in events],
            "suppression": dict(suppression) if suppression else None,
            "sends": sends,
        }
    )


def _confirmation(request: Mapping[str, Any], email: Any) -> dict[str, Any]:
    """A confirmation request and what became of its email (queued, sent, failed…)."""
    return {
        **{key: value for key, value in request.items() if key != "id"},
        "email_status": email.status if email is not None else None,
        "email_sent_at": email.sent_at if email is not None else None,
    }


def erase_subscriber(
    db: Database, *, key: str, email: str, source: str, now: datetime | None = None
) -> None:
    """Delete the person's data, leaving only a keyed-hash suppression (one transaction)."""
    now = now or datetime.now(UTC)
    address = normalize_email(email)
    digest = email_hash(key, address)
    with db.write() as conn:
        row = subscriber_by_email(conn, address)
        known = conn.scalar(select(suppressions.c.id).where(suppressions.c.email_hash == digest))
        if row is None and known is None:
            raise NotFound(f"no subscriber or suppression for {email!r}", fix="check the spelling")
        insert_ignoring_conflicts(
            conn,
            suppressions,
            [{"email_hash": digest, "email": None, "reason": SuppressionReason.ERASURE.value,
              "source": source, "created_at": now}],
        )  # fmt: skip
        # An earlier suppression keeps its reason, but loses the address in clear.
        conn.execute(
            update(suppressions).where(suppressions.c.email_hash == digest).values(email=None)
        )
        if row is not None:
            conn.execute(subscribers.delete().where(subscribers.c.id == row.id))
        target = f"subscriber:{row.id}" if row is not None else f"suppression:{known}"
        audit_log.record(conn, actor=source, action="erase", target=target, now=now)
