"""Queries shared by the audience services: dialect-neutral upserts and subscriber lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.domain.subscribers import consent_text_version
from newsletter.storage.database import tuples
from newsletter.storage.tables import (
    consent_texts,
    lists,
    subscriber_attributes,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    suppressions,
    tags,
    topics,
)

# Stay under SQLite's default 32766 bound-parameter limit and keep statements short.
IN_CHUNK = 900


def insert_ignoring_conflicts(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """INSERT … ON CONFLICT DO NOTHING for many rows, on either dialect."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))


def chunked(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def name_ids(conn: Connection, table: Table, names: Iterable[str]) -> dict[str, int]:
    """Ids of tag/topic names, creating the missing ones; the rows are locked FOR KEY SHARE
    (PostgreSQL) until commit, so links written in this transaction cannot lose them."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    insert_ignoring_conflicts(conn, table, [{"name": n} for n in wanted])
    found: dict[str, int] = {}
    for part in chunked(wanted):
        query = (
            select(table.c.name, table.c.id)
            .where(table.c.name.in_(part))
            .with_for_update(read=True, key_share=True)
        )
        found.update(tuples(conn.execute(query)))
    return found


def ensure_consent_text(conn: Connection, text: str, now: datetime) -> str:
    """Store the exact consent wording once; return its version (sha256)."""
    version = consent_text_version(text)
    insert_ignoring_conflicts(
        conn, consent_texts, [{"version": version, "text": text, "created_at": now}]
    )
    return version


def subscriber_by_email(conn: Connection, email: str) -> Row | None:
    return conn.execute(select(subscribers).where(subscribers.c.email == email)).first()


def list_by_name(conn: Connection, name: str) -> Row | None:
    return conn.execute(select(lists).where(lists.c.name == name)).first()


def suppressed_hashes(conn: Connection, hashes: Iterable[str]) -> set[str]:
    values = list(set(hashes))
    found: set[str] = set()
    for part in chunked(values):
        found.update(
            conn.scalars(
                select(suppressions.c.email_hash).where(suppressions.c.email_hash.in_(part))
            )
        )
    return found


def names_of(conn: Connection, subscriber_id: int, link: Table, names: Table) -> list[str]:
    key = "tag_id" if link is subscriber_tags else "topic_id"
    return list(
        conn.scalars(
            select(names.c.name)
            .join(link, link.c[key] == names.c.id)
            .where(link.c.subscriber_id == subscriber_id)
            .order_by(names.c.name)
        )
    )


def tags_of(conn: Connection, subscriber_id: int) -> list[str]:
    return names_of(conn, subscriber_id, subscriber_tags, tags)


def topics_of(conn: Connection, subscriber_id: int) -> list[str]:
    return names_of(conn, subscriber_id, subscriber_topics, topics)


def attributes_of(conn: Connection, subscriber_id: int) -> dict[str, Any]:
    rows = conn.execute(
        select(subscriber_attributes).where(subscriber_attributes.c.subscriber_id == subscriber_id)
    )
    values: dict[str, Any] = {}
    for row in rows:
        for column in ("value_text", "value_date", "value_number"):
            if row._mapping[column] is not None:
                values[row.name] = row._mapping[column]
                break
    return values
