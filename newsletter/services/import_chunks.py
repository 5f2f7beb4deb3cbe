"""One import chunk as a handful of set-based statements inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select, tuple_, update

from newsletter.audiences.csv_import import ImportRow
from newsletter.domain.subscribers import (
    STICKY_STATUSES,
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
)
from newsletter.errors import ValidationError
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
    key: str
    batch_id: str
    list_id: int
    double_opt_in: bool
    consent_confirmed: bool
    consent_text_version: str | None
    staff_user: str
    kinds: Mapping[str, str]  # attribute name → text | number | date | boolean
    now: datetime
    hasher: Callable[[str], str]  # email_hasher(key), built once per import


def apply_chunk(conn: Connection, ctx: ChunkContext, rows: Sequence[ImportRow]) -> dict[str, int]:
    """Upsert the rows; returns counts (added, updated, unchanged, skipped).

    Every row written points only at parents this transaction inserted or locked FOR KEY
    SHARE (the list, the consent wording, existing subscribers, tags and topics), so on
    PostgreSQL the per-row foreign-key triggers are skipped where the role may
    (`bulk.skip_row_triggers`): the same guarantee, one statement per table instead of one
    per row. Run it in its own write transaction, as the last writer before commit.
    """
    _lock_parents(conn, ctx)
    skip_row_triggers(conn)
    by_email: dict[str, ImportRow] = {}
    for row in rows:  # the reader drops in-file duplicates; keep the last one if any slip by
        by_email[row.email] = row
    counts = {"added": 0, "updated": 0, "unchanged": len(rows) - len(by_email), "skipped": 0}
    hasher = ctx.hasher
    hashes = {email: hasher(email) for email in by_email}
    suppressed = {
        r[0]
        for r in lookup(
            conn,
            lambda cond: select(suppressions.c.email_hash).where(cond),
            suppressions.c.email_hash,
            list(hashes.values()),
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
    pending_new = ctx.double_opt_in and not ctx.consent_confirmed
    new_status = SubscriberStatus.PENDING if pending_new else SubscriberStatus.ACTIVE
    new_rows, changed = [], {}
    for email, row in by_email.items():
        old = existing.get(email)
        if hashes[email] in suppressed or (old is not None and old.status in STICKY_STATUSES):
            counts["skipped"] += 1
        elif old is None:
            new_rows.append(row)
        else:
            changed[old.id] = (old, row)
    ids = _insert_new(conn, ctx, new_rows, hashes, new_status) if new_rows else {}
    counts["added"] = len(ids)
    updated_ids = _update_existing(conn, ctx, changed) if changed else set()
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
    def key_share(table, column, value):
        query = select(column).where(column == value).with_for_update(read=True, key_share=True)
        return conn.execute(query).first()

    if key_share(lists, lists.c.id, ctx.list_id) is None:
        raise ValidationError(
            "the list was deleted while this import was running; nothing of this chunk was saved",
            fix="create the list again, then rerun the import: it resumes where it stopped",
        )
    if ctx.consent_text_version is not None:
        key_share(consent_texts, consent_texts.c.version, ctx.consent_text_version)


def _insert_new(conn, ctx, rows, hashes, status) -> dict[int, str]:
    now, status_value = ctx.now, status.value
    ids = allocate_ids(conn, subscribers, len(rows))
    pairs = list(zip(ids, rows, strict=True))
    bulk_insert(
        conn,
        subscribers,
        ("id", "email", "email_hash", "first_name", "last_name", "status", "time_zone",
         "signed_up_at", "created_at", "updated_at"),
        [(sid, r.email, hashes[r.email], r.first_name or None, r.last_name or None,
          status_value, r.time_zone or None, now, now, now) for sid, r in pairs],
    )  # fmt: skip
    confirmed = None if status == SubscriberStatus.PENDING else now
    bulk_insert(
        conn,
        subscriptions,
        ("subscriber_id", "list_id", "status", "created_at", "updated_at", "confirmed_at"),
        [(sid, ctx.list_id, status_value, now, now, confirmed) for sid in ids],
    )
    _add_names(conn, pairs, ignore_conflicts=False)  # new people have no links yet
    bulk_insert(conn, subscriber_attributes, _ATTRIBUTE_COLUMNS, _attribute_rows(ctx, pairs))
    return {sid: r.email for sid, r in pairs}


def _attribute_rows(ctx: ChunkContext, pairs) -> list[tuple]:
    rows = []
    for sid, r in pairs:
        for name, value in (r.attributes or {}).items():
            if name in ctx.kinds and value is not None:
                columns = attribute_value_columns(ctx.kinds[name], value)
                rows.append((sid, name, columns["value_text"], columns["value_number"],
                             columns["value_date"]))  # fmt: skip
    return rows


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


def _names_by_subscriber(conn, link, table, key, ids) -> defaultdict[int, set[str]]:
    found: defaultdict[int, set[str]] = defaultdict(set)
    query = select(link.c.subscriber_id, table.c.name).join(table, table.c.id == link.c[key])
    for sid, name in lookup(conn, query.where, link.c.subscriber_id, ids):
        found[sid].add(name)
    return found


def _update_existing(conn: Connection, ctx: ChunkContext, changed: dict) -> set[int]:
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
        for values in _attribute_rows(ctx, [(sid, row)]):
            if have_attrs.get((sid, values[1])) != values[2:]:
                attr_rows.append(values)
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
