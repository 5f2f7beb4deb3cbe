"""Streaming CSV export of subscribers (all, or one segment) with formula protection."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import select, true

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_export import write_subscribers_csv
from newsletter.audiences.segments import Segment
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import segment_condition
from newsletter.storage.tables import (
    subscriber_attributes,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    tags,
    topics,
)

BASE_COLUMNS = [
    "email",
    "first_name",
    "last_name",
    "status",
    "time_zone",
    "signed_up_at",
    "tags",
    "topics",
]
PAGE = 5000


def export_subscribers(
    db: Database,
    out: TextIO,
    *,
    specs: Mapping[str, AttributeSpec],
    segment: Segment | None = None,
    now: datetime | None = None,
) -> int:
    """Write a CSV of every subscriber (or the segment's members); returns the row count."""
    columns = BASE_COLUMNS + sorted(specs)
    return write_subscribers_csv(_rows(db, segment, now or datetime.now(UTC)), out, columns)


def _rows(db: Database, segment: Segment | None, now: datetime) -> Iterator[dict[str, Any]]:
    """Keyset pages by id: constant memory, short reads, no server-side cursor needed."""
    condition = segment_condition(segment.rule, now=now) if segment is not None else true()
    last_id = 0
    while True:
        with db.read() as conn:
            page = conn.execute(
                select(subscribers)
                .where(condition, subscribers.c.id > last_id)
                .order_by(subscribers.c.id)
                .limit(PAGE)
            ).all()
            if not page:
                return
            first, last_id = page[0].id, page[-1].id
            names = {
                "tags": _names(conn, subscriber_tags, tags, "tag_id", first, last_id),
                "topics": _names(conn, subscriber_topics, topics, "topic_id", first, last_id),
            }
            attributes: dict[int, dict[str, Any]] = defaultdict(dict)
            for row in conn.execute(
                select(subscriber_attributes).where(
                    subscriber_attributes.c.subscriber_id.between(first, last_id)
                )
            ):
                value = row.value_text
                if value is None:
                    value = row.value_date if row.value_date is not None else row.value_number
                    if isinstance(value, float) and value.is_integer():
                        value = int(value)
                attributes[row.subscriber_id][row.name] = value
        for row in page:
            yield {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "status": row.status,
                "time_zone": row.time_zone,
                "signed_up_at": row.signed_up_at.replace(microsecond=0).isoformat(),
                "tags": names["tags"].get(row.id, []),
                "topics": names["topics"].get(row.id, []),
                **attributes.get(row.id, {}),
            }


def _names(conn, link, table, key, first: int, last: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    query = (
        select(link.c.subscriber_id, table.c.name)
        .join(table, table.c.id == link.c[key])
        .where(link.c.subscriber_id.between(first, last))
        .order_by(link.c.subscriber_id, table.c.name)
    )
    for sid, name in conn.execute(query):
        found[sid].append(name)
    return found
