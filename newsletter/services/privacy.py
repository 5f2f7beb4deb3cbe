"""GDPR: export everything we hold about one person (Art. 20) and erase it (Art. 17).

Erasure deletes the subscriber and, by cascade, memberships, tags, topics, attributes,
consent records, confirmation requests and engagement events; redacts the address in the raw
webhook batches still kept and in provider error texts (`privacy.stored_text`); and, after
the commit, deletes the outbox emails addressed to the person and removes their rows from
the rejects reports imports wrote (`privacy.product_files`). What remains is one suppression
row holding only the keyed hash (HMAC-SHA256) of the normalised address, the date and the
reason, so the address is never mailed or imported again (legitimate interest, to be
confirmed by counsel; see docs/privacy.md). Look-ups try every form the address
may have been stored under (before and after NFKC) and every key of the ring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import RowMapping, select, update

from newsletter.audiences.attributes import AttributeSpec, stored_value
from newsletter.audiences.emails import address_forms
from newsletter.domain.subscribers import HashKey, SuppressionReason, email_hash, lookup_hashes
from newsletter.errors import NotFound
from newsletter.privacy.product_files import purge_outbox, purge_rejects_report
from newsletter.privacy.stored_text import redact_raw_batches, redact_text_columns
from newsletter.services.subscribers import require_subscriber, subscriber_profile
from newsletter.storage import audit_log, confirmation_queue, send_history
from newsletter.storage.audience_queries import insert_ignoring_conflicts, subscriber_by_email
from newsletter.storage.database import Database
from newsletter.storage.tables import (
    confirmation_requests,
    consent_records,
    consent_texts,
    imports,
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


def _confirmation(request: RowMapping, email: Any) -> dict[str, Any]:
    """A confirmation request and what became of its email (queued, sent, failed…)."""
    return {
        **{key: value for key, value in request.items() if key != "id"},
        "email_status": email.status if email is not None else None,
        "email_sent_at": email.sent_at if email is not None else None,
    }


@dataclass
class Erasure:
    """What an erasure did, for the command's summary (no address in it)."""

    target: str  # subscriber:<id> or suppression:<id>
    raw_batches: int = 0  # raw webhook batches redacted
    texts: int = 0  # provider error texts redacted
    emails: list[Path] = field(default_factory=list)  # outbox files deleted
    reports: list[Path] = field(default_factory=list)  # rejects reports rewritten


def erase_subscriber(
    db: Database,
    *,
    key: HashKey,
    email: str,
    source: str,
    now: datetime | None = None,
    outbox_dir: Path | None = None,
) -> Erasure:
    """Delete the person's data, leaving only a keyed-hash suppression (one transaction),
    then purge the files the product wrote about them."""
    now = now or datetime.now(UTC)
    forms = list(address_forms(email))
    digests = lookup_hashes(key, forms)
    with db.write() as conn:
        row = next((found for form in forms if (found := subscriber_by_email(conn, form))), None)
        known = conn.scalar(
            select(suppressions.c.id).where(suppressions.c.email_hash.in_(digests)).limit(1)
        )
        if row is None and known is None:
            raise NotFound(f"no subscriber or suppression for {email!r}", fix="check the spelling")
        if row is not None and row.email not in forms:
            forms.append(row.email)
        insert_ignoring_conflicts(
            conn,
            suppressions,
            [{"email_hash": email_hash(key, forms[0]), "email": None,
              "reason": SuppressionReason.ERASURE.value, "source": source, "created_at": now}],
        )  # fmt: skip
        # An earlier suppression keeps its reason, but loses the address in clear.
        conn.execute(
            update(suppressions)
            .where(suppressions.c.email_hash.in_(digests) | suppressions.c.email.in_(forms))
            .values(email=None)
        )
        if row is not None:
            conn.execute(subscribers.delete().where(subscribers.c.id == row.id))
        target = f"subscriber:{row.id}" if row is not None else f"suppression:{known}"
        result = Erasure(target, redact_raw_batches(conn, forms), redact_text_columns(conn, forms))
        paths: list[str] = list(conn.scalars(
            select(imports.c.rejects_path).where(imports.c.rejects_path.is_not(None)).distinct()
        ))  # fmt: skip
        reports = [Path(p) for p in paths]
        detail = {"raw_batches": result.raw_batches, "texts": result.texts}
        audit_log.record(conn, actor=source, action="erase", target=target, now=now, detail=detail)
    if outbox_dir is not None:
        result.emails = purge_outbox(outbox_dir, forms)
    result.reports = [path for path in reports if purge_rejects_report(path, forms)]
    return result
