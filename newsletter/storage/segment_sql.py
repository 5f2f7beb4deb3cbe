"""Compile a segment rule tree to ONE SQLAlchemy Core query (bound parameters, no string SQL).

Every leaf becomes `subscribers.id IN (subquery)` or a plain column test, so both SQLite and
PostgreSQL can drive the query from the most selective index. Scope: suppressed addresses
are always excluded; status is `active` unless the rule itself tests status.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)

from newsletter.audiences.segments import (
    All,
    Any_,
    AttributeCompare,
    Engaged,
    HasTag,
    HasTopic,
    InList,
    Not,
    Rule,
    SignedUpWithin,
    StatusIs,
    mentions_status,
)
from newsletter.domain.subscribers import EngagementEvent, LinkKind, SubscriberStatus
from newsletter.storage.tables import (
    lists,
    subscriber_attributes,
    subscriber_events,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    subscriptions,
    suppressions,
    tags,
    topics,
)

#: Where each attribute kind is stored in subscriber_attributes (booleans as 1.0 / 0.0).
ATTRIBUTE_COLUMN = {
    "text": "value_text",
    "number": "value_number",
    "date": "value_date",
    "boolean": "value_number",
}


def attribute_value_columns(kind: str, value: Any) -> dict[str, Any]:
    """The typed column values for one attribute value, for inserts."""
    row: dict[str, Any] = {"value_text": None, "value_number": None, "value_date": None}
    if kind == "boolean":
        value = 1.0 if value else 0.0
    row[ATTRIBUTE_COLUMN[kind]] = value
    return row


def not_suppressed() -> ColumnElement[bool]:
    return ~exists().where(suppressions.c.email_hash == subscribers.c.email_hash)


def segment_condition(rule: Rule | None, *, now: datetime) -> ColumnElement[bool]:
    """The WHERE clause for a checked rule tree, including the default scope."""
    scope = [not_suppressed()]
    if not mentions_status(rule):
        scope.append(subscribers.c.status == SubscriberStatus.ACTIVE.value)
    if rule is not None:
        scope.append(_compile(rule, now))
    return and_(*scope)


def id_window(after: int, size: int) -> Subquery:
    """The next `size` subscriber ids after `after`, walked along the primary key.

    Pages of a segment are its condition joined to such a window. Filtering the whole table
    with `id > after … LIMIT` instead lets SQLite drive the query from the `status` index
    and sort every remaining row for every page: quadratic over a million subscribers."""
    walk = subscribers.alias("walk")
    return select(walk.c.id).where(walk.c.id > after).order_by(walk.c.id).limit(size).subquery()


def window_end(window: Subquery) -> Select:
    """The last id of the window (None when nothing is left after `after`)."""
    return select(func.max(window.c.id))


def ids_in_window(condition: ColumnElement[bool], window: Subquery) -> Select:
    """Subscriber ids of `window` that meet `condition`, in id order."""
    return (
        select(subscribers.c.id)
        .select_from(window.join(subscribers, subscribers.c.id == window.c.id))
        .where(condition)
        .order_by(subscribers.c.id)
    )


def segment_count_query(rule: Rule | None, *, now: datetime) -> Select:
    return select(func.count()).select_from(subscribers).where(segment_condition(rule, now=now))


def _compile(rule: Rule, now: datetime) -> ColumnElement[bool]:
    if isinstance(rule, All):
        return and_(true(), *(_compile(r, now) for r in rule.rules))
    if isinstance(rule, Any_):
        return or_(false(), *(_compile(r, now) for r in rule.rules))
    if isinstance(rule, Not):
        return not_(_compile(rule.rule, now))
    if isinstance(rule, HasTopic):
        return subscribers.c.id.in_(
            select(subscriber_topics.c.subscriber_id)
            .join(topics, topics.c.id == subscriber_topics.c.topic_id)
            .where(topics.c.name == rule.topic)
        )
    if isinstance(rule, HasTag):
        return subscribers.c.id.in_(
            select(subscriber_tags.c.subscriber_id)
            .join(tags, tags.c.id == subscriber_tags.c.tag_id)
            .where(tags.c.name == rule.tag)
        )
    if isinstance(rule, InList):
        return subscribers.c.id.in_(
            select(subscriptions.c.subscriber_id)
            .join(lists, lists.c.id == subscriptions.c.list_id)
            .where(lists.c.name == rule.list_name, subscriptions.c.status == "active")
        )
    if isinstance(rule, StatusIs):
        return subscribers.c.status.in_(rule.statuses)
    if isinstance(rule, SignedUpWithin):
        return subscribers.c.signed_up_at >= now - timedelta(days=rule.days)
    if isinstance(rule, Engaged):
        return _engaged(rule, now)
    if isinstance(rule, AttributeCompare):
        return _attribute(rule)
    raise TypeError(f"unknown rule {rule!r}")


def _engaged(rule: Engaged, now: datetime) -> ColumnElement[bool]:
    event = EngagementEvent.OPEN if rule.action == "opened" else EngagementEvent.CLICK
    conditions = [subscriber_events.c.event == event.value]
    if rule.action == "clicked_consultation":
        conditions.append(subscriber_events.c.link_kind == LinkKind.CONSULTATION.value)
    if rule.days is None:
        return ~exists().where(subscriber_events.c.subscriber_id == subscribers.c.id, *conditions)
    conditions.append(subscriber_events.c.occurred_at >= now - timedelta(days=rule.days))
    return subscribers.c.id.in_(select(subscriber_events.c.subscriber_id).where(*conditions))


def _attribute(rule: AttributeCompare) -> ColumnElement[bool]:
    kind = rule.kind or "text"
    column = subscriber_attributes.c[ATTRIBUTE_COLUMN[kind]]
    value = rule.value
    if kind == "boolean" and rule.operator == "equals":
        value = 1.0 if value else 0.0
    # `IS NOT NULL` lets both databases use the partial index of this value type.
    conditions: list[ColumnElement[bool]] = [
        subscriber_attributes.c.name == rule.name,
        column.is_not(None),
    ]
    if rule.operator == "equals":
        conditions.append(column == value)
    elif rule.operator == "in":
        conditions.append(column.in_(list(value)))
    elif rule.operator == "contains":
        # Case-insensitive on both databases (SQLite LIKE is, PostgreSQL LIKE is not).
        conditions.append(func.lower(column).contains(value.lower(), autoescape=True))
    elif rule.operator in ("gt", "after"):
        conditions.append(column > value)
    elif rule.operator in ("lt", "before"):
        conditions.append(column < value)
    member = subscribers.c.id.in_(select(subscriber_attributes.c.subscriber_id).where(*conditions))
    if rule.operator == "exists" and value is False:
        return not_(member)
    return member
