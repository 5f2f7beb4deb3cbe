"""SendGrid Event Webhook intake: store raw batches, then turn them into ledger facts.

Two steps, so that nothing SendGrid tells us is lost (docs/web.md):

1. `ingest` stores the verified raw body in `webhook_inbox` (the route then answers 200).
2. `process_inbox` parses every unprocessed inbox row, stores each event once in
   `provider_events` (deduplicated by `sg_event_id` AND by the natural key
   `sg_message_id|event|timestamp|url`: SendGrid may change ids between retries), applies
   the new ones and marks the row processed, in one transaction per row. Safe to re-run at
   any time: after a crash, on start-up, from `newsletter events process`.

Effects are monotonic: times only move earlier, suppressions are sticky (through
`services.suppressions.suppress_in`), a late `delivered` never clears a bounce, and no event
ever resubscribes anyone. Each event is linked to its delivery by decoding our `send_id`
(`newsletter.delivery_ids`); the sending engine takes any event of a batch's deliveries as
proof that SendGrid accepted that request (`services.recovery`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.audiences.emails import normalize_email
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.subscribers import (
    STATUS_FOR_REASON,
    STICKY_STATUSES,
    ConsentEvent,
    HashKey,
    SubscriberStatus,
    SuppressionReason,
    email_hash,
)
from newsletter.keys.ring import KeyRing
from newsletter.services.suppressions import suppress_in
from newsletter.storage.audience_queries import subscriber_by_email
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import deliveries, provider_events, webhook_inbox
from newsletter.storage.tables import consent_records, subscribers, suppressions

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
KNOWN_EVENTS = frozenset(
    {
        "processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
        "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe",
        "account_status_change",
    }
)  # fmt: skip
#: `dropped` reasons that mean the address must never be mailed again.
DROP_SUPPRESSES = {
    "bounced address": SuppressionReason.HARD_BOUNCE,
    "invalid": SuppressionReason.HARD_BOUNCE,
    "spam reporting address": SuppressionReason.COMPLAINT,
    "unsubscribed address": SuppressionReason.UNSUBSCRIBE_ONE_CLICK,
}
#: Fresh, explicit consent that an older unsubscribe event must not override.
FRESH_CONSENT = (ConsentEvent.DOUBLE_OPTIN_CONFIRMED.value, ConsentEvent.RESUBSCRIBED.value)
_SG_EVENT_ID_MAX = 200
_NATURAL_KEY_MAX = 400
#: Bounce texts sometimes quote the address ("550 <ana@…>: unknown user"): never store it.
_ADDRESS = re.compile(r"[^\s<>()\[\]:;,\"']+@[^\s<>()\[\]:;,\"']+")


class MalformedBatch(ValueError):
    """The body is not a JSON array (a SendGrid batch always is)."""


@dataclass
class ProcessCounts:
    """What one `process_inbox` run did."""

    rows: int = 0  # inbox rows processed
    events: int = 0  # events read
    new: int = 0  # stored for the first time
    duplicates: int = 0  # already stored (same sg_event_id or natural key)
    unknown: int = 0  # unknown event types: stored, ignored
    invalid: int = 0  # entries that are not events (no type or timestamp): skipped
    suppressed: int = 0  # addresses newly suppressed
    failed_rows: int = 0  # rows that raised; left unprocessed for the next run

    def add(self, other: ProcessCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One event, tolerantly parsed (sendgrid-v3.md §7)."""

    event: str
    timestamp: int
    email: str | None
    sg_event_id: str | None
    sg_message_id: str | None
    send_id: str | None
    reason: str | None
    bounce_type: str | None
    url: str | None

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


def parse_batch(raw_body: bytes) -> list[Any]:
    """The JSON array of a webhook body, or MalformedBatch. Entries are checked later."""
    try:
        data = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedBatch(f"the body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, list):
        raise MalformedBatch("the body is not a JSON array of events")
    return data


def _text(value: Any, limit: int | None = None) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text[:limit] if limit else text


def _timestamp(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        ts = int(float(value)) if isinstance(value, (str, float)) else int(value)
        datetime.fromtimestamp(ts, UTC)  # in range for a datetime
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return ts if ts >= 0 else None


def parse_event(item: Any) -> ProviderEvent | None:
    """An event from one array entry; None when it has no type or no usable timestamp."""
    if not isinstance(item, dict):
        return None
    event = _text(item.get("event"), 32)
    timestamp = _timestamp(item.get("timestamp"))
    if event is None or timestamp is None:
        return None
    event = event.lower()
    return ProviderEvent(
        event=event,
        timestamp=timestamp,
        email=_text(item.get("email")),
        sg_event_id=_text(item.get("sg_event_id")),
        sg_message_id=_text(item.get("sg_message_id")),
        send_id=_text(item.get("send_id"), 64),
        reason=_ADDRESS.sub("[address]", _text(item.get("reason"), 2000) or "") or None,
        bounce_type=(_text(item.get("type"), 16) or "").lower() or None,
        url=_text(item.get("url")),
    )


def _bounded(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def natural_key(ev: ProviderEvent, key: HashKey) -> str:
    """`sg_message_id|event|timestamp|url`; events without a message id (some async bounces)
    use the keyed hash of the address and the send id instead, never the address itself."""
    subject = ev.sg_message_id
    if subject is None:
        address = email_hash(key, normalize_email(ev.email)) if ev.email else ""
        subject = f"h:{address}:{ev.send_id or ''}"
    return _bounded(f"{subject}|{ev.event}|{ev.timestamp}|{ev.url or ''}", _NATURAL_KEY_MAX)


# --- step 1: the inbox ------------------------------------------------------------------------


def ingest(conn: Connection, raw_body: bytes, now: datetime) -> int:
    """Store one verified raw webhook body; returns the inbox id. Caller owns the transaction."""
    return conn.execute(
        webhook_inbox.insert()
        .values(received_at=now, raw_body=bytes(raw_body))
        .returning(webhook_inbox.c.id)
    ).scalar_one()


def pending_inbox_ids(db: Database) -> list[int]:
    query = select(webhook_inbox.c.id).where(webhook_inbox.c.processed_at.is_(None))
    with db.read() as conn:
        return list(conn.scalars(query.order_by(webhook_inbox.c.id)))


# --- step 2: processing -----------------------------------------------------------------------


def process_inbox(db: Database, *, key: HashKey, now: datetime | None = None) -> ProcessCounts:
    """Process every unprocessed inbox row, oldest first, one transaction per row.

    `key` is the key ring (`settings.key_ring`; a bare secret is key "a"): its current key
    makes the keyed address hashes of suppressions, and send ids made under any of its keys
    decode. A row that raises is logged, rolled back and left for the next run.
    """
    total = ProcessCounts()
    for inbox_id in pending_inbox_ids(db):
        try:
            with db.write() as conn:
                counts = process_row(conn, inbox_id, key=key, now=now or datetime.now(UTC))
        except Exception:
            log.exception("webhook inbox row %s could not be processed; will retry", inbox_id)
            total.failed_rows += 1
            continue
        if counts is not None:
            total.add(counts)
    return total


def process_row(
    conn: Connection, inbox_id: int, *, key: HashKey, now: datetime
) -> ProcessCounts | None:
    """Process one inbox row inside the caller's write transaction (None: already done)."""
    query = select(webhook_inbox.c.raw_body).where(
        webhook_inbox.c.id == inbox_id, webhook_inbox.c.processed_at.is_(None)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    raw = conn.scalar(query)
    if raw is None:
        return None
    counts = ProcessCounts(rows=1)
    try:
        items = parse_batch(raw)
    except MalformedBatch:
        items = []  # the route never stores these; a hand-inserted row is simply skipped
    parsed: list[ProviderEvent] = []
    for item in items:
        counts.events += 1
        ev = parse_event(item)
        if ev is None:
            counts.invalid += 1
        else:
            parsed.append(ev)
    parsed.sort(key=lambda e: e.timestamp)
    ids = DeliveryIds(key.as_mapping() if isinstance(key, KeyRing) else {"a": key})
    for ev in parsed:
        delivery = ids.delivery_for_send_id(ev.send_id)  # None: not one of our sends
        if not _store(conn, ev, delivery, inbox_id=inbox_id, key=key, now=now):
            counts.duplicates += 1
            continue
        counts.new += 1
        if ev.event not in KNOWN_EVENTS:
            counts.unknown += 1
            continue
        counts.suppressed += _apply(conn, ev, delivery, key=key, now=now)
    conn.execute(
        update(webhook_inbox).where(webhook_inbox.c.id == inbox_id).values(processed_at=now)
    )
    return counts


def _store(
    conn: Connection, ev: ProviderEvent, delivery: int | None, *, inbox_id: int, key: HashKey,
    now: datetime,
) -> bool:  # fmt: skip
    """Insert the event unless either dedup key is taken; True if it is new."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(provider_events)
        .values(
            sg_event_id=_bounded(ev.sg_event_id, _SG_EVENT_ID_MAX) if ev.sg_event_id else None,
            natural_key=natural_key(ev, key), send_id=ev.send_id, delivery_id=delivery,
            event=ev.event,
            occurred_at=ev.occurred_at, received_at=now, inbox_id=inbox_id, reason=ev.reason,
            bounce_type=ev.bounce_type, applied=ev.event in KNOWN_EVENTS,
        )
        .on_conflict_do_nothing()
        .returning(provider_events.c.id)
    )  # fmt: skip
    return conn.execute(statement).first() is not None


def _apply(
    conn: Connection, ev: ProviderEvent, delivery: int | None, *, key: HashKey, now: datetime
) -> int:
    """Apply a newly stored event; returns 1 if it suppressed an address."""
    t = ev.occurred_at
    if ev.event == "processed":
        _set_earliest(conn, delivery, deliveries.c.processed_at, t)
    elif ev.event == "delivered":
        _set_earliest(conn, delivery, deliveries.c.delivered_at, t)
    elif ev.event == "bounce":
        if ev.bounce_type == "blocked":  # soft: record only, never over a hard bounce
            _update_delivery(conn, delivery, deliveries.c.bounce_type.is_(None),
                             bounce_type="blocked")  # fmt: skip
            return 0
        _update_delivery(conn, delivery, None, bounce_type="bounce")
        return _suppress(conn, ev, delivery, SuppressionReason.HARD_BOUNCE, key=key, now=now)
    elif ev.event == "dropped":
        reason = (ev.reason or "").strip()
        _update_delivery(conn, delivery, deliveries.c.drop_reason.is_(None),
                         drop_reason=reason[:100] or "dropped")  # fmt: skip
        suppression = DROP_SUPPRESSES.get(reason.lower())
        if suppression is not None:
            return _suppress(conn, ev, delivery, suppression, key=key, now=now)
    elif ev.event == "spamreport":
        return _suppress(conn, ev, delivery, SuppressionReason.COMPLAINT, key=key, now=now)
    elif ev.event in ("unsubscribe", "group_unsubscribe"):
        return _suppress(
            conn, ev, delivery, SuppressionReason.UNSUBSCRIBE_ONE_CLICK, key=key, now=now
        )
    # deferred, open, click, group_resubscribe, account_status_change: stored only.
    return 0


def _set_earliest(conn: Connection, delivery: int | None, column: Any, t: datetime) -> None:
    _update_delivery(conn, delivery, or_(column.is_(None), column > t), **{column.name: t})


def _update_delivery(conn: Connection, delivery: int | None, guard: Any, **values: Any) -> None:
    if delivery is None:
        return
    query = update(deliveries).where(deliveries.c.id == delivery)
    if guard is not None:
        query = query.where(guard)
    conn.execute(query.values(**values))


def _address_for(conn: Connection, ev: ProviderEvent, delivery: int | None) -> str | None:
    if ev.email:
        return normalize_email(ev.email)
    if delivery is None:
        return None
    return conn.scalar(
        select(subscribers.c.email)
        .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
        .where(deliveries.c.id == delivery)
    )


def _suppress(
    conn: Connection, ev: ProviderEvent, delivery: int | None, reason: SuppressionReason, *,
    key: HashKey, now: datetime,
) -> int:  # fmt: skip
    address = _address_for(conn, ev, delivery)
    if not address:
        return 0
    row = subscriber_by_email(conn, address)
    if reason == SuppressionReason.UNSUBSCRIBE_ONE_CLICK and row is not None:
        fresh = conn.scalar(
            select(consent_records.c.id).where(
                consent_records.c.subscriber_id == row.id,
                consent_records.c.event.in_(FRESH_CONSENT),
                consent_records.c.occurred_at > ev.occurred_at,
            )
        )
        if fresh is not None:  # the person opted in again after this old unsubscribe
            return 0
    return suppress_once(conn, key=key, email=address, reason=reason,
                         source=f"sendgrid:{ev.event}", now=now)  # fmt: skip


def suppress_once(
    conn: Connection, *, key: HashKey, email: str, reason: SuppressionReason, source: str,
    now: datetime,
) -> int:  # fmt: skip
    """`suppress_in`, skipped when it would change nothing (so repeats leave one consent
    record): the address is already suppressed and the subscriber's status already says so
    (a bounce or complaint still outranks an earlier unsubscribe). Returns 1 if it acted."""
    address = normalize_email(email)
    exists = conn.scalar(
        select(suppressions.c.id).where(suppressions.c.email_hash == email_hash(key, address))
    )
    if exists is not None:
        row = subscriber_by_email(conn, address)
        target = STATUS_FOR_REASON[reason]
        if row is None or (
            row.status in STICKY_STATUSES
            and (row.status == target or target == SubscriberStatus.UNSUBSCRIBED)
        ):
            return 0
    suppress_in(conn, key=key, email=address, reason=reason, source=source, now=now)
    return 1
