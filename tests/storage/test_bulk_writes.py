"""Bulk writes for imports: ids allocated up front, binary COPY and array lookups."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from newsletter.storage.bulk import COPY_THRESHOLD, allocate_ids, bulk_insert, lookup
from newsletter.storage.tables import subscriber_attributes, subscribers

NOW = datetime(2026, 11, 27, 12, 30, 15, 123456, tzinfo=UTC)


def _people(ids, start=0):
    return [
        (sid, f"p{start + i}@example.com", f"h{start + i}", "Zoé" if i % 2 else None, "active",
         NOW, NOW, NOW)
        for i, sid in enumerate(ids)
    ]  # fmt: skip


COLUMNS = ("id", "email", "email_hash", "first_name", "status", "signed_up_at", "created_at",
           "updated_at")  # fmt: skip


def test_allocated_ids_are_fresh_and_later_inserts_do_not_collide(db):
    n = COPY_THRESHOLD + 50  # the COPY path on PostgreSQL
    with db.write() as conn:
        ids = allocate_ids(conn, subscribers, n)
        assert len(set(ids)) == n
        bulk_insert(conn, subscribers, COLUMNS, _people(ids))
    with db.write() as conn:  # an ordinary insert afterwards gets a new id
        conn.execute(
            subscribers.insert().values(
                email="late@example.com", email_hash="late", status="active",
                signed_up_at=NOW, created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        more = allocate_ids(conn, subscribers, 3)
        late = conn.scalar(
            select(subscribers.c.id).where(subscribers.c.email == "late@example.com")
        )
    assert late not in ids and not set(more) & {*ids, late}


def test_every_column_type_round_trips_through_bulk_insert(db):
    n = COPY_THRESHOLD + 10
    with db.write() as conn:
        ids = allocate_ids(conn, subscribers, n)
        bulk_insert(conn, subscribers, COLUMNS, _people(ids))
        attributes = [
            (sid, "member_since", None, None, date(2020, 2, 29)) if i % 3 == 0
            else (sid, "events_attended", None, 2.5 + i, None) if i % 3 == 1
            else (sid, "city", "Łódź ' \" \\ \t tab", None, None)
            for i, sid in enumerate(ids)
        ]  # fmt: skip
        bulk_insert(
            conn,
            subscriber_attributes,
            ("subscriber_id", "name", "value_text", "value_number", "value_date"),
            attributes,
        )
    with db.read() as conn:
        people = conn.execute(select(*(subscribers.c[c] for c in COLUMNS))).all()
        stored = conn.execute(
            select(subscriber_attributes).order_by(subscriber_attributes.c.subscriber_id)
        ).all()
    assert sorted(tuple(p) for p in people) == sorted(_people(ids))
    assert [tuple(a) for a in stored] == sorted(attributes)


def test_lookup_finds_text_and_integer_keys_in_one_parameter(db):
    with db.write() as conn:
        ids = allocate_ids(conn, subscribers, 5)
        bulk_insert(conn, subscribers, COLUMNS, _people(ids))
    with db.read() as conn:
        wanted = ["p1@example.com", "p3@example.com", "nobody@example.com", "o'hara@example.com"]
        by_email = lookup(
            conn, lambda c: select(subscribers.c.id).where(c), subscribers.c.email, wanted
        )
        by_id = lookup(
            conn, lambda c: select(subscribers.c.email).where(c), subscribers.c.id, [ids[0], 10**9]
        )
    assert sorted(r[0] for r in by_email) == [ids[1], ids[3]]
    assert [r[0] for r in by_id] == ["p0@example.com"]
