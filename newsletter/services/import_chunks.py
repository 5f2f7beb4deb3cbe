"""One import chunk as a handful of set-based statements inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, tuple_, update

from newsletter.audiences.csv_import import ImportRow
from newsletter.domain.subscribers import (
    STICKY_STATUSES,
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
)
from newsletter.errors import ValidationError
from newsletter.keys.ring import KeyRing
from newsletter.storage.audience_queries import chunked, name_ids
from newsletter.storage.bulk import allocate_ids, bulk_insert, lookup, skip_row_triggers
from newsletter.storage.segment_sql import attribute_value_columns
from newsletter.storage.tables import (
    consent_records,
    consent_texts,
    lists,
    subscriber_attributes,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    subscriptions,
    suppressions,
    tags,
    topics,
)

_PROFILE = ("first_name", "last_name", "time_zone")
_ATTRIBUTE_COLUMNS = ("subscriber_id", "name", "value_text", "value_number", "value_date")


@dataclass(frozen=True)
class ChunkContext:
    key: str | KeyRing
    batch_id: str
    list_id: int
    double_opt_in: bool
    consent_confirmed: bool
    consent_text_version: str | None
    staff_user: str
    kinds: Mapping[str, str]  # attribute name → text | number | date | boolean
    now: datetime
    hasher: Callable[[str], str]  # email_hasher(key), built once per import
    # Other hashes an erased person may be stored under (older keys, pre-NFKC form).
    other_hashes: Callable[[ImportRow], list[str]] = lambda row: []


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk shaped for writing without the database (built on the reading thread, so the
    writer's transaction holds little Python work: `services/chunk_writer.py`)."""

    by_email: dict[str, ImportRow]  # the reader drops in-file duplicates; the last one wins
    duplicates: int
    hashes: dict[str, str]  # email → keyed email_hash
    other_hashes: dict[str, list[str]]  # email → further hashes to look up (rarely any)
    new_rows: dict[str, tuple]  # email → subscribers row if new, in _NEW_COLUMNS order, no id
    attributes: dict[str, list[tuple]]  # email → (name, value_text, value_number, value_date)
    last_line: int


_NEW_COLUMNS = ("email", "email_hash", "first_name", "last_name", "status", "time_zone",
                "signed_up_at", "created_at", "updated_at", "id")  # fmt: skip


def prepare_chunk(ctx: ChunkContext, rows: Sequence[ImportRow]) -> PreparedChunk:
    """Everything about a chunk that needs no database: pure, no I/O."""
    by_email = {row.email: row for row in rows}
    hasher, now = ctx.hasher, ctx.now
    hashes = {email: hasher(email) for email in by_email}
    other = {email: found for email, r in by_email.items() if (found := ctx.other_hashes(r))}
    status = _new_status(ctx).value
    new_rows = {
        email: (email, hashes[email], r.first_name or None, r.last_name or None, status,
                r.time_zone or None, now, now, now)
        for email, r in by_email.items()
    }  # fmt: skip
    attributes = {email: _attribute_values(ctx, r) for email, r in by_email.items()}
    return PreparedChunk(
        by_email=by_email,
        duplicates=len(rows) - len(by_email),
        hashes=hashes,
        other_hashes=other,
        new_rows=new_rows,
        attributes=attributes,
        last_line=max(row.line for row in rows),
    )


def _new_status(ctx: ChunkContext) -> SubscriberStatus:
    pending = ctx.double_opt_in and not ctx.consent_confirmed
    return SubscriberStatus.PENDING if pending else SubscriberStatus.ACTIVE


def apply_chunk(conn: Connection, ctx: ChunkContext, chunk: PreparedChunk) -> dict[str, int]:
    """Upsert the chunk's rows; returns counts (added, updated, unchanged, skipped).

    Every row written points only at parents this transaction inserted or locked FOR KEY
    SHARE (the list, the consent wording, existing subscribers, tags and topics), so on
    PostgreSQL the per-row foreign-key triggers are skipped where the role may
    (`bulk.skip_row_triggers`): the same guarantee, one statement per table instead of one
    per row. Run it in its own write transaction, as the last writer before commit.
    """
    _lock_parents(conn, ctx)
    skip_row_triggers(conn)
    by_email, hashes, other = chunk.by_email, chunk.hashes, chunk.other_hashes
    counts = {"added": 0, "updated": 0, "unchanged": chunk.duplicates, "skipped": 0}
    suppressed = {
        r[0]
        for r in lookup(
            conn,
            lambda cond: select(suppressions.c.email_hash).where(cond),
            suppressions.c.email_hash,
            [*hashes.values(), *(h for found in other.values() for h in found)],
        )
    }
    existing = {
        r.email: r
        for r in lookup(
            conn,
            lambda cond: select(subscribers).where(cond).with_for_update(read=True, key_share=True),
            subscribers.c.email,
            list(by_email),
        )
    }
    new_emails, changed = [], {}
    for email, row in by_email.items():
        old = existing.get(email)
        suppressed_here = hashes[email] in suppressed or (
            bool(other) and any(h in suppressed for h in other.get(email, ()))
        )
        if suppressed_here or (old is not None and old.status in STICKY_STATUSES):
            counts["skipped"] += 1
        elif old is None:
            new_emails.append(email)
        else:
            changed[old.id] = (old, row)
    ids = _insert_new(conn, ctx, chunk, new_emails) if new_emails else {}
    counts["added"] = len(ids)
    updated_ids = _update_existing(conn, ctx, chunk, changed) if changed else set()
    counts["updated"] = len(updated_ids)
    counts["unchanged"] += len(changed) - len(updated_ids)
    source = f"import:{ctx.batch_id}" + (":consent-confirmed" if ctx.consent_confirmed else "")
    source += f" by {ctx.staff_user}"
    event, method = ConsentEvent.IMPORTED.value, ConsentMethod.CSV_IMPORT.value
    consent = [
        (sid, email, event, ctx.now, method, source, ctx.list_id, ctx.consent_text_version)
        for sid, email in [*ids.items(), *((i, changed[i][0].email) for i in updated_ids)]
    ]  # fmt: skip
    bulk_insert(
        conn,
        consent_records,
        ("subscriber_id", "email", "event", "occurred_at", "method", "source", "list_id",
         "consent_text_version"),
        consent,
    )  # fmt: skip
    return counts


def _lock_parents(conn: Connection, ctx: ChunkContext) -> None:
    def key_share(column: Any, value: object) -> Any:
        query = select(column).where(column == value).with_for_update(read=True, key_share=True)
        return conn.execute(query).first()

    if key_share(lists.c.id, ctx.list_id) is None:
        raise ValidationError(
            "the list was deleted while this import was running; nothing of this chunk was saved",
            fix="create the list again, then rerun the import: it resumes where it stopped",
        )
    if ctx.consent_text_version is not None:
        key_share(consent_texts.c.version, ctx.consent_text_version)


def _insert_new(
    conn: Connection, ctx: ChunkContext, chunk: PreparedChunk, emails: list[str]
) -> dict[int, str]:
    ids = allocate_ids(conn, subscribers, len(emails))
    pairs = list(zip(ids, emails, strict=True))
    new_rows = chunk.new_rows
    bulk_insert(conn, subscribers, _NEW_COLUMNS, [(*new_rows[e], sid) for sid, e in pairs])
    now, status = ctx.now, _new_status(ctx)
    confirmed = None if status == SubscriberStatus.PENDING else now
    bulk_insert(
        conn,
        subscriptions,
        ("subscriber_id", "list_id", "status", "created_at", "updated_at", "confirmed_at"),
        [(sid, ctx.list_id, status.value, now, now, confirmed) for sid in ids],
    )
    by_email, attributes = chunk.by_email, chunk.attributes
    _add_names(conn, [(sid, by_email[e]) for sid, e in pairs], ignore_conflicts=False)
    bulk_insert(
        conn,
        subscriber_attributes,
        _ATTRIBUTE_COLUMNS,
        [(sid, *values) for sid, e in pairs for values in attributes[e]],
    )
    return dict(pairs)


def _attribute_values(ctx: ChunkContext, row: ImportRow) -> list[tuple]:
    """(name, value_text, value_number, value_date) of each declared attribute with a value."""
    values = []
    for name, value in (row.attributes or {}).items():
        if name in ctx.kinds and value is not None:
            columns = attribute_value_columns(ctx.kinds[name], value)
            values.append((name, columns["value_text"], columns["value_number"],
                           columns["value_date"]))  # fmt: skip
    return values


def _add_names(
    conn: Connection, pairs: Sequence[tuple[int, ImportRow]], *, ignore_conflicts: bool = True
) -> None:
    for attr, link, table, key in (
        ("tags", subscriber_tags, tags, "tag_id"),
        ("topics", subscriber_topics, topics, "topic_id"),
    ):
        wanted = {n for _sid, r in pairs for n in getattr(r, attr)}
        if not wanted:
            continue
        ids = name_ids(conn, table, wanted)
        links = [(sid, ids[n]) for sid, r in pairs for n in dict.fromkeys(getattr(r, attr) or ())]
        bulk_insert(conn, link, ("subscriber_id", key), links, ignore_conflicts=ignore_conflicts)


def _names_by_subscriber(
    conn: Connection, link: Table, table: Table, key: str, ids: Sequence[int]
) -> defaultdict[int, set[str]]:
    found: defaultdict[int, set[str]] = defaultdict(set)
    query = select(link.c.subscriber_id, table.c.name).join(table, table.c.id == link.c[key])
    for sid, name in lookup(conn, query.where, link.c.subscriber_id, ids):
        found[sid].add(name)
    return found


def _update_existing(
    conn: Connection, ctx: ChunkContext, chunk: PreparedChunk, changed: dict
) -> set[int]:
    """Apply new names, tags, topics, attributes and list membership; return changed ids."""
    ids = list(changed)
    have_tags = _names_by_subscriber(conn, subscriber_tags, tags, "tag_id", ids)
    have_topics = _names_by_subscriber(conn, subscriber_topics, topics, "topic_id", ids)
    have_attrs = {}
    attr_query = select(subscriber_attributes).where
    for r in lookup(conn, attr_query, subscriber_attributes.c.subscriber_id, ids):
        have_attrs[(r.subscriber_id, r.name)] = (r.value_text, r.value_number, r.value_date)
    member_query = select(subscriptions.c.subscriber_id, subscriptions.c.status).where(
        subscriptions.c.list_id == ctx.list_id
    )
    memberships = dict(lookup(conn, member_query.where, subscriptions.c.subscriber_id, ids))
    activate = not ctx.double_opt_in or ctx.consent_confirmed
    profile_updates, name_pairs, attr_rows, new_subs, touched = [], [], [], [], set()
    for sid, (old, row) in changed.items():
        profile = {f: getattr(old, f) for f in _PROFILE}
        for f in _PROFILE:
            value = getattr(row, f) or None
            if value is not None and value != profile[f]:
                profile[f] = value
        status = old.status
        if status == SubscriberStatus.PENDING and activate:
            status = SubscriberStatus.ACTIVE.value
        if profile != {f: getattr(old, f) for f in _PROFILE} or status != old.status:
            profile_updates.append({"b_id": sid, "b_status": status, **profile})
            touched.add(sid)
        if set(row.tags or ()) - have_tags[sid] or set(row.topics or ()) - have_topics[sid]:
            name_pairs.append((sid, row))
            touched.add(sid)
        for name, *values in chunk.attributes[row.email]:
            if have_attrs.get((sid, name)) != tuple(values):
                attr_rows.append((sid, name, *values))
                touched.add(sid)
        if sid not in memberships:
            new_subs.append((sid, status if status in ("active", "pending") else "pending"))
            touched.add(sid)
    if profile_updates:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                updated_at=ctx.now,
                **{f: bindparam(f) for f in _PROFILE},
            ),
            profile_updates,
        )
    _add_names(conn, name_pairs)
    if attr_rows:
        attribute_key = tuple_(subscriber_attributes.c.subscriber_id, subscriber_attributes.c.name)
        for part in chunked([(r[0], r[1]) for r in attr_rows], 400):
            conn.execute(delete(subscriber_attributes).where(attribute_key.in_(part)))
        bulk_insert(conn, subscriber_attributes, _ATTRIBUTE_COLUMNS, attr_rows)
    now = ctx.now
    bulk_insert(
        conn,
        subscriptions,
        ("subscriber_id", "list_id", "status", "created_at", "updated_at", "confirmed_at"),
        [(sid, ctx.list_id, st, now, now, now if st == "active" else None) for sid, st in new_subs],
    )
    return touched
