"""The preference page's use cases: see and choose topics, leave everything, come back.

Authorised by the signed token in the link (purpose `preferences`, like the unsubscribe
link's): no login. Leaving is the same unsubscribe as the footer link; coming back is a
resubscribe with a fresh consent record in the wording of `NEWSLETTER_RESUBSCRIBE_CONSENT`
(never for an address that bounced or complained). Topics other than the offered ones
(`NEWSLETTER_TOPIC_LABELS`) are never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, delete, select

from newsletter.domain.subscribers import ConsentMethod, SubscriberStatus, SuppressionReason
from newsletter.engagement.event_effects import suppress_once
from newsletter.services.subscribers import add_names
from newsletter.services.suppressions import RestoreUnknown, resubscribe
from newsletter.storage.counter_store import add_counts
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries
from newsletter.storage.tables import subscriber_topics, subscribers, topics


@dataclass(frozen=True)
class Person:
    """Whose preferences a link opens (never shown: the page names no address)."""

    subscriber_id: int
    email: str
    status: str
    campaign_id: int
    topics: frozenset[str]

    @property
    def mailable(self) -> bool:
        return self.status in (SubscriberStatus.ACTIVE.value, SubscriberStatus.PENDING.value)

    @property
    def can_come_back(self) -> bool:
        return self.status == SubscriberStatus.UNSUBSCRIBED.value


def _person(conn: Connection, delivery_id: int) -> Person | None:
    row = conn.execute(
        select(
            subscribers.c.id, subscribers.c.email, subscribers.c.status, deliveries.c.campaign_id
        )
        .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
        .where(deliveries.c.id == delivery_id)
    ).first()
    if row is None:
        return None
    chosen = conn.scalars(
        select(topics.c.name)
        .join(subscriber_topics, subscriber_topics.c.topic_id == topics.c.id)
        .where(subscriber_topics.c.subscriber_id == row.id)
    )
    return Person(row.id, row.email, row.status, row.campaign_id, frozenset(chosen))


def person_for(db: Database, delivery_id: int) -> Person | None:
    """None when there is no such delivery or its subscriber was erased."""
    with db.read() as conn:
        return _person(conn, delivery_id)


def choose_topics(
    db: Database, delivery_id: int, *, chosen: Collection[str], offered: Sequence[str]
) -> Person | None:
    """Keep exactly the chosen ones among the offered topics; others stay as they are."""
    wanted = [name for name in offered if name in set(chosen)]
    dropped = [name for name in offered if name not in set(chosen)]
    with db.write() as conn:
        person = _person(conn, delivery_id)
        if person is None:
            return None
        if dropped:
            conn.execute(
                delete(subscriber_topics).where(
                    subscriber_topics.c.subscriber_id == person.subscriber_id,
                    subscriber_topics.c.topic_id.in_(
                        select(topics.c.id).where(topics.c.name.in_(dropped))
                    ),
                )
            )
        add_names(conn, person.subscriber_id, topic_names=wanted)
        return _person(conn, delivery_id)


def leave(db: Database, delivery_id: int, *, key: str, now: datetime) -> bool:
    """Unsubscribe from everything (as the footer link does). False: nobody to unsubscribe."""
    with db.write() as conn:
        person = _person(conn, delivery_id)
        if person is None:
            return False
        if suppress_once(
            conn,
            key=key,
            email=person.email,
            reason=SuppressionReason.UNSUBSCRIBE_FOOTER,
            source=f"preferences:campaign:{person.campaign_id}",
            now=now,
        ):
            add_counts(conn, {(person.campaign_id, "", "unsubscribes"): 1})
    return True


def come_back(
    db: Database, delivery_id: int, *, key: str, consent_text: str, now: datetime
) -> bool:
    """Resubscribe with a fresh consent record; ValidationError for bounced or complained
    addresses. False: nobody (erased since).

    What the unsubscribe closed comes back; when that was not recorded (an unsubscribe from
    before the record), the list this email was sent to, if it went to a list; otherwise
    `RestoreUnknown` (the page asks the person to contact the clinic)."""
    person = person_for(db, delivery_id)
    if person is None:
        return False
    again = partial(
        resubscribe,
        db,
        key=key,
        email=person.email,
        consent_text=consent_text,
        source=f"preferences:campaign:{person.campaign_id}",
        now=now,
        method=ConsentMethod.PREFERENCE_PAGE,
    )
    try:
        again()
    except RestoreUnknown:
        with db.read() as conn:
            target = conn.scalar(
                select(campaigns.c.target).where(campaigns.c.id == person.campaign_id)
            )
        kind, _, name = (target or "").partition(":")
        if kind != "list":
            raise
        again(list_name=name)
    return True
