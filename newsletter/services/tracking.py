"""SendGrid Event Webhook intake: store raw batches, then turn them into ledger facts.

Two steps, so that nothing SendGrid tells us is lost (docs/web.md):

1. `ingest` stores the verified raw body in `webhook_inbox` (the route then answers 200).
2. `process_inbox` parses every unprocessed inbox row, stores each event once in
   `provider_events` (deduplicated by `sg_event_id` AND by the natural key
   `sg_message_id|event|timestamp|url`: SendGrid may change ids between retries), applies
   the new ones and marks the row processed, in one transaction per row. Safe to re-run at
   any time: after a crash, on start-up, from `newsletter events process`.

What a new event changes (delivery facts, suppressions, campaign counters, the soft-bounce
and complaint rules) is `newsletter.engagement.event_effects`. Each event is linked to its
delivery by decoding our `send_id`
(`newsletter.delivery_ids`); the sending engine takes any event of a batch's deliveries as
proof that SendGrid accepted that request (`services.recovery`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.audiences.emails import normalize_email
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.subscribers import HashKey, email_hash
from newsletter.engagement.event_effects import EventEffects
from newsletter.keys.ring import KeyRing
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import provider_events, webhook_inbox

log = logging.getLogger(__name__)
_ONE_PROCESSOR = threading.Lock()

MAX_BODY_BYTES = 5 * 1024 * 1024
KNOWN_EVENTS = frozenset(
    {
        "processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
        "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe",
        "account_status_change",
    }
)  # fmt: skip
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
    """One event, tolerantly parsed (docs/sendgrid.md §6)."""

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
        data = orjson.loads(raw_body)  # ~3× json's speed on a 1,000-event body
    except (ValueError, RecursionError) as exc:  # orjson's JSONDecodeError is a ValueError
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
    # One processor at a time in a process (every post schedules one): the others wait here
    # instead of queueing on the write lock, where they would hold up the next post's
    # acknowledgement (a short insert) behind one another's batches.
    with _ONE_PROCESSOR:
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
            time.sleep(0)  # let a waiting acknowledgement take the write lock between batches
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
    rows = [(ev, ids.delivery_for_send_id(ev.send_id), natural_key(ev, key)) for ev in parsed]
    stored = _store_new(conn, rows, inbox_id=inbox_id, now=now)
    effects = EventEffects(conn, key=key, now=now, inbox_id=inbox_id)
    for ev, delivery, key_of_event in rows:  # delivery None: not one of our sends
        if key_of_event not in stored:
            counts.duplicates += 1
            continue
        stored.discard(key_of_event)  # a second copy in the same batch is a duplicate
        counts.new += 1
        if ev.event not in KNOWN_EVENTS:
            counts.unknown += 1
            continue
        counts.suppressed += effects.apply(ev, delivery)
    effects.finish()  # set-wise facts, counters, and the complaint guard
    conn.execute(
        update(webhook_inbox).where(webhook_inbox.c.id == inbox_id).values(processed_at=now)
    )
    return counts


def _store_new(
    conn: Connection, rows: list[tuple[ProviderEvent, int | None, str]], *, inbox_id: int,
    now: datetime,
) -> set[str]:  # fmt: skip
    """Insert the batch's events in one statement, skipping any whose `sg_event_id` or
    natural key is taken (also by an earlier copy in the same batch); the natural keys of the
    events that are new."""
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = [
        {"sg_event_id": _bounded(ev.sg_event_id, _SG_EVENT_ID_MAX) if ev.sg_event_id else None,
         "natural_key": key, "send_id": ev.send_id, "delivery_id": delivery, "event": ev.event,
         "occurred_at": ev.occurred_at, "received_at": now, "inbox_id": inbox_id,
         "reason": ev.reason, "bounce_type": ev.bounce_type,
         "applied": ev.event in KNOWN_EVENTS}
        for ev, delivery, key in rows
    ]  # fmt: skip
    statement = (
        dialect.insert(provider_events)
        .on_conflict_do_nothing()
        .returning(provider_events.c.natural_key)
    )
    return set(conn.scalars(statement, values))
