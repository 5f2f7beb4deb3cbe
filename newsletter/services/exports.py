"""Streaming CSV export of subscribers (all, or one segment) with formula protection."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import Connection, Table, select, true

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_export import (
    FORMULA_PREFIXES,
    MULTI_VALUE_SEPARATOR,
    attribute_cell,
    safe_cell,
)
from newsletter.audiences.segments import Segment
from newsletter.storage import audit_log
from newsletter.storage.bulk import driver_rows
from newsletter.storage.database import Database, tuples
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
# A cell can only need the `'` prefix if it starts with one of these (csv_export.safe_cell).
_RISKY_FIRST = frozenset(FORMULA_PREFIXES) | {"'"}


def export_subscribers(
    db: Database,
    out: TextIO,
    *,
    specs: Mapping[str, AttributeSpec],
    segment: Segment | None = None,
    now: datetime | None = None,
    actor: str = "cli",
) -> int:
    """Write a CSV of every subscriber (or the segment's members); returns the row count.
    Recorded in the audit log, with the rows written, even when the export fails midway."""
    now = now or datetime.now(UTC)
    attribute_names = sorted(specs)
    writer = csv.writer(out, lineterminator="\r\n")
    count, completed = 0, False
    try:
        writer.writerow([safe_cell(c) for c in BASE_COLUMNS + attribute_names])
        for row in _rows(db, segment, now, specs):
            writer.writerow([safe_cell(c) if c and c[0] in _RISKY_FIRST else c for c in row])
            count += 1
        completed = True
    finally:
        with db.write() as conn:
            target = f"segment:{segment.name}" if segment is not None else "all subscribers"
            audit_log.record(conn, actor=actor, action="export", target=target, now=now,
                             detail={"rows": count, "completed": completed})  # fmt: skip
    return count


def _rows(
    db: Database, segment: Segment | None, now: datetime, specs: Mapping[str, AttributeSpec]
) -> Iterator[list[str]]:
    """Keyset pages by id: constant memory, short reads, no server-side cursor needed."""
    attribute_names = sorted(specs)
    condition = segment_condition(segment.rule, now=now) if segment is not None else true()
    columns = [subscribers.c[name] for name in ("id", *BASE_COLUMNS[:6])]
    last_id = 0
    while True:
        with db.read() as conn:
            page = tuples(
                conn.execute(
                    select(*columns)
                    .where(condition, subscribers.c.id > last_id)
                    .order_by(subscribers.c.id)
                    .limit(PAGE)
                )
            )
            if not page:
                return
            first, last_id = page[0][0], page[-1][0]
            tag_names = _names(conn, subscriber_tags, tags, "tag_id", first, last_id)
            topic_names = _names(conn, subscriber_topics, topics, "topic_id", first, last_id)
            attributes: dict[int, dict[str, str]] = defaultdict(dict)
            query = select(
                subscriber_attributes.c.subscriber_id,
                subscriber_attributes.c.name,
                subscriber_attributes.c.value_text,
                subscriber_attributes.c.value_number,
                subscriber_attributes.c.value_date,
            ).where(subscriber_attributes.c.subscriber_id.between(first, last_id))
            # Driver values: a date is a `date` on PostgreSQL and its stored ISO text on SQLite;
            # `attribute_cell` makes both the same ISO 8601 cell, and a boolean true/false.
            for sid, name, text, number, day in driver_rows(conn, query):
                value = text if text is not None else day if day is not None else number
                attributes[sid][name] = attribute_cell(specs.get(name), value)
        for sid, email, first_name, last_name, status, zone, signed_up in page:
            values = attributes.get(sid, {})
            yield [
                email,
                first_name or "",
                last_name or "",
                status,
                zone or "",
                signed_up.replace(microsecond=0).isoformat(),
                tag_names.get(sid, ""),
                topic_names.get(sid, ""),
                *(values.get(name, "") for name in attribute_names),
            ]


def _names(
    conn: Connection, link: Table, table: Table, key: str, first: int, last: int
) -> dict[int, str]:
    found: dict[int, list[str]] = defaultdict(list)
    query = (
        select(link.c.subscriber_id, table.c.name)
        .join(table, table.c.id == link.c[key])
        .where(link.c.subscriber_id.between(first, last))
        .order_by(link.c.subscriber_id, table.c.name)
    )
    for sid, name in driver_rows(conn, query):
        found[sid].append(name)
    return {sid: MULTI_VALUE_SEPARATOR.join(names) for sid, names in found.items()}
