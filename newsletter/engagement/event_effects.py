"""What a newly stored SendGrid event changes: the delivery's facts, suppressions, the
campaign's counters, and the engagement rules (docs/web.md, docs/tracking.md).

`EventEffects` lives for one inbox row's transaction (`services.tracking.process_row`):
`apply` is called for each new event, `finish` once at the end. Counters are summed in
memory and written once per row (a 1,000-event batch is a handful of upserts); each delivery
counts once per fact (delivered, bounced, deferred, complained…), not once per event.

Effects are monotonic: times only move earlier, suppressions are sticky (through
`services.suppressions.suppress_in`), a late `delivered` never clears a bounce, and no event
ever resubscribes anyone. The rules: 3 soft bounces (`bounce` of type `blocked`) since the
person's last delivered email, the first and the third ≥ 7 days apart, suppress the address
(`soft_bounce`); a `sending` campaign whose complaint rate reaches 0.3 % over ≥ 1,000
delivered pauses itself, with the reason on the campaign and in the log (a warning is logged
at 0.1 %). The guard runs here, as each batch of events is applied, so a campaign stops
within the batches already in flight (W-12).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.audiences.emails import normalize_email
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.subscribers import (
    STATUS_FOR_REASON,
    STICKY_STATUSES,
    ConsentEvent,
    HashKey,
    SubscriberStatus,
    SuppressionReason,
    email_hash,
)
from newsletter.engagement import bounce_rules
from newsletter.engagement.bots import hour_scope
from newsletter.services.suppressions import suppress_in
from newsletter.storage import campaign_store, counter_store
from newsletter.storage.audience_queries import chunked, subscriber_by_email
from newsletter.storage.database import tuples
from newsletter.storage.engagement_tables import soft_bounce_streaks
from newsletter.storage.sending_tables import deliveries, provider_events
from newsletter.storage.tables import consent_records, subscribers, suppressions

if TYPE_CHECKING:
    from newsletter.services.tracking import ProviderEvent

log = logging.getLogger(__name__)

#: `dropped` reasons that mean the address must never be mailed again.
DROP_SUPPRESSES = {
    "bounced address": SuppressionReason.HARD_BOUNCE,
    "invalid": SuppressionReason.HARD_BOUNCE,
    "spam reporting address": SuppressionReason.COMPLAINT,
    "unsubscribed address": SuppressionReason.UNSUBSCRIBE_ONE_CLICK,
}
#: "The earliest time wins", for many deliveries at once (executemany).
_EARLIER = {
    name: update(deliveries)
    .where(deliveries.c.id == bindparam("d"),
           or_(deliveries.c[name].is_(None), deliveries.c[name] > bindparam("t")))
    .values({name: bindparam("t")})
    for name in ("processed_at", "delivered_at")
}  # fmt: skip
_END_STREAK = delete(soft_bounce_streaks).where(
    soft_bounce_streaks.c.subscriber_id == bindparam("s"),
    soft_bounce_streaks.c.last_at <= bindparam("t"),
)
#: Fresh, explicit consent that an older unsubscribe event must not override.
FRESH_CONSENT = (ConsentEvent.DOUBLE_OPTIN_CONFIRMED.value, ConsentEvent.RESUBSCRIBED.value)


class EventEffects:
    """Applies one inbox row's new events inside its transaction (see the module docstring)."""

    def __init__(
        self, conn: Connection, *, key: HashKey, now: datetime, inbox_id: int | None = None
    ):
        self.conn = conn
        self.inbox_id = inbox_id  # the row being processed: its events are all stored already
        self._counted: set[tuple[int, str]] = set()
        self.key = key
        self.now = now
        self.deltas: Counter[counter_store.Key] = Counter()
        self.complaints: Counter[int] = Counter()  # campaign → complaints in this row
        self._streaks: bool | None = None  # any soft-bounce streak open? (asked once)
        self._earliest: dict[str, dict[int, datetime]] = {"processed_at": {}, "delivered_at": {}}

    def apply(self, ev: ProviderEvent, delivery: int | None) -> int:
        """Apply one newly stored event; returns 1 if it suppressed an address."""
        t = ev.occurred_at
        if ev.event in ("processed", "delivered"):  # nearly every event: applied set-wise
            if delivery is not None:
                earliest = self._earliest[f"{ev.event}_at"]
                earliest[delivery] = min(t, earliest.get(delivery, t))
        elif ev.event == "bounce":
            return self._bounce(ev, delivery)
        elif ev.event == "dropped":
            reason = (ev.reason or "").strip()
            campaign = self._first_set(
                delivery, deliveries.c.drop_reason, reason[:100] or "dropped"
            )
            if campaign is not None:
                self.deltas[campaign, "", "dropped"] += 1
            suppression = DROP_SUPPRESSES.get(reason.lower())
            if suppression is not None:
                return self._suppress(ev, delivery, suppression)
        elif ev.event == "deferred":
            self._once_per_delivery(ev, delivery, "deferred")
        elif ev.event == "spamreport":
            campaign = self._once_per_delivery(ev, delivery, "complaints")
            if campaign is not None:
                self.complaints[campaign] += 1
            return self._suppress(ev, delivery, SuppressionReason.COMPLAINT)
        elif ev.event in ("unsubscribe", "group_unsubscribe"):
            acted = self._suppress(ev, delivery, SuppressionReason.UNSUBSCRIBE_ONE_CLICK)
            if acted and delivery is not None:
                self._count(delivery, "unsubscribes")
            return acted
        # open, click, group_resubscribe, account_status_change: stored only.
        return 0

    def finish(self) -> None:
        """Apply the set-wise facts, write the counters, then check the complaint guard of
        every campaign complained of."""
        self._flush_earliest()
        counter_store.add_counts(self.conn, self.deltas)
        self.deltas.clear()
        for campaign_id, added in sorted(self.complaints.items()):
            _complaint_guard(self.conn, campaign_id, added)

    # --- facts -------------------------------------------------------------------------

    def _flush_earliest(self) -> None:
        """`processed_at` and `delivered_at` of this row's deliveries, the earliest time
        winning, in a few statements for the whole batch; a first `delivered` counts for its
        campaign (and its hour) and ends the person's soft-bounce streak."""
        ended: list[dict[str, Any]] = []
        for name, times in self._earliest.items():
            if not times:
                continue
            column = deliveries.c[name]
            changes = []
            for part in chunked(sorted(times)):
                rows = self.conn.execute(
                    select(deliveries.c.id, deliveries.c.campaign_id, deliveries.c.subscriber_id,
                           column).where(deliveries.c.id.in_(part))
                )  # fmt: skip
                for delivery, campaign, subscriber, current in tuples(rows):
                    t = times[delivery]
                    if current is not None and current <= t:
                        continue
                    changes.append({"d": delivery, "t": t})
                    if name == "delivered_at" and current is None:
                        self.deltas[campaign, "", "delivered"] += 1
                        self.deltas[campaign, hour_scope(t), "delivered"] += 1
                        if subscriber is not None:
                            ended.append({"s": subscriber, "t": t})
            if changes:
                self.conn.execute(_EARLIER[name], changes)
            times.clear()
        if ended and self._streaks_open():
            self.conn.execute(_END_STREAK, ended)

    def _streaks_open(self) -> bool:
        if self._streaks is None:
            found = self.conn.scalar(select(soft_bounce_streaks.c.subscriber_id).limit(1))
            self._streaks = found is not None
        return self._streaks

    def _bounce(self, ev: ProviderEvent, delivery: int | None) -> int:
        row = None
        if delivery is not None:
            row = self.conn.execute(
                select(
                    deliveries.c.campaign_id, deliveries.c.subscriber_id, deliveries.c.bounce_type
                ).where(deliveries.c.id == delivery)
            ).first()
        if ev.bounce_type == "blocked":  # soft: recorded, never over a hard bounce
            self._flush_earliest()  # a delivery earlier in this batch ends a streak first
            if row is not None and row.bounce_type is None:
                _update(self.conn, delivery, bounce_type="blocked")
                self.deltas[row.campaign_id, "", "bounced_soft"] += 1
            if row is not None and row.subscriber_id is not None:
                return self._soft_bounce(ev, delivery, row.subscriber_id)
            return 0
        if row is not None and row.bounce_type != "bounce":
            _update(self.conn, delivery, bounce_type="bounce")
            self.deltas[row.campaign_id, "", "bounced_hard"] += 1
            if row.bounce_type == "blocked":
                self.deltas[row.campaign_id, "", "bounced_soft"] -= 1
        return self._suppress(ev, delivery, SuppressionReason.HARD_BOUNCE)

    def _soft_bounce(self, ev: ProviderEvent, delivery: int | None, subscriber_id: int) -> int:
        t = ev.occurred_at
        row = self.conn.execute(
            select(soft_bounce_streaks).where(soft_bounce_streaks.c.subscriber_id == subscriber_id)
        ).first()
        streak = (
            bounce_rules.Streak(t, t, 1)
            if row is None
            else bounce_rules.Streak(row.first_at, row.last_at, row._mapping["count"]).add(t)
        )
        values = {"first_at": streak.first_at, "last_at": streak.last_at, "count": streak.count}
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(soft_bounce_streaks).values(
            subscriber_id=subscriber_id, **values
        )
        self.conn.execute(
            statement.on_conflict_do_update(index_elements=["subscriber_id"], set_=values)
        )
        self._streaks = True
        if not streak.suppresses:
            return 0
        log.info(
            "soft-bounce streak of subscriber %s (%s bounces): suppressed",
            subscriber_id,
            streak.count,
        )
        return self._suppress(ev, delivery, SuppressionReason.SOFT_BOUNCE)

    def _first_set(self, delivery: int | None, column: Any, value: Any) -> int | None:
        """Set `column` where it is still NULL; the campaign if this event set it."""
        if delivery is None:
            return None
        row = self.conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery, column.is_(None))
            .values({column.name: value})
            .returning(deliveries.c.campaign_id)
        ).first()
        return None if row is None else row.campaign_id

    def _once_per_delivery(self, ev: ProviderEvent, delivery: int | None, name: str) -> int | None:
        """Count `name` for the delivery's campaign the first time such an event comes: none
        stored by an earlier inbox row, none counted yet in this one."""
        if delivery is None or (delivery, name) in self._counted:
            return None
        self._counted.add((delivery, name))
        earlier = self.conn.scalar(
            select(provider_events.c.id)
            .where(
                provider_events.c.delivery_id == delivery,
                provider_events.c.event == ev.event,
                or_(provider_events.c.inbox_id != self.inbox_id,
                    provider_events.c.inbox_id.is_(None)),
            )
            .limit(1)
        )  # fmt: skip
        return None if earlier is not None else self._count(delivery, name)

    def _count(self, delivery: int, name: str) -> int | None:
        campaign = self.conn.scalar(
            select(deliveries.c.campaign_id).where(deliveries.c.id == delivery)
        )
        if campaign is not None:
            self.deltas[campaign, "", name] += 1
        return campaign

    # --- suppression -------------------------------------------------------------------

    def _suppress(self, ev: ProviderEvent, delivery: int | None, reason: SuppressionReason) -> int:
        conn = self.conn
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
        return suppress_once(
            conn,
            key=self.key,
            email=address,
            reason=reason,
            source=f"sendgrid:{ev.event}",
            now=self.now,
        )


def _complaint_guard(conn: Connection, campaign_id: int, added: int) -> None:
    complaints = counter_store.count_of(conn, campaign_id, "complaints")
    delivered = counter_store.count_of(conn, campaign_id, "delivered")
    verdict = bounce_rules.complaint_verdict(complaints, delivered)
    if verdict == "pause":
        reason = bounce_rules.pause_reason(complaints, delivered)
        if campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.PAUSED,
            only_from=[CampaignStatus.SENDING.value],
            pause_reason=reason,
        ):
            log.warning("campaign %s paused: %s", campaign_id, reason)
    elif (
        verdict == "warn" and bounce_rules.complaint_verdict(complaints - added, delivered) == "ok"
    ):
        rate = bounce_rules.complaint_rate(complaints, delivered) * 100
        log.warning(
            "campaign %s: complaint rate %.2f %% (%s of %s delivered) passed %.1f %%",
            campaign_id,
            rate,
            complaints,
            delivered,
            bounce_rules.COMPLAINT_WARN * 100,
        )


def _update(conn: Connection, delivery: int | None, **values: Any) -> None:
    if delivery is not None:
        conn.execute(update(deliveries).where(deliveries.c.id == delivery).values(**values))


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


def suppress_once(
    conn: Connection,
    *,
    key: HashKey,
    email: str,
    reason: SuppressionReason,
    source: str,
    now: datetime,
) -> int:
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
