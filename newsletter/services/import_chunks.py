"""One import chunk as a handful of set-based statements inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, tuple_, update

from newsletter.audiences.csv_import import ImportRow
from newsletter.domain.subscribers import (
    STICKY_STATUSES,
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
    email_hash,
)
from newsletter.storage.audience_queries import chunked, insert_ignoring_conflicts, name_ids
from newsletter.storage.segment_sql import attribute_value_columns
from newsletter.storage.tables import (
    consent_records,
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


def _in(conn: Connection, query_for, values: Sequence[Any]) -> list[Any]:
    rows: list[Any] = []
    for part in chunked(list(values)):
        rows.extend(conn.execute(query_for(part)))
    return rows


def apply_chunk(conn: Connection, ctx: ChunkContext, rows: Sequence[ImportRow]) -> dict[str, int]:
    """Upsert the rows; returns counts (added, updated, unchanged, skipped)."""
    by_email: dict[str, ImportRow] = {}
    for row in rows:  # later duplicates in the file win, like sequential upserts
        by_email[row.email] = row
    counts = {"added": 0, "updated": 0, "unchanged": len(rows) - len(by_email), "skipped": 0}
    hashes = {email: email_hash(ctx.key, email) for email in by_email}
    suppressed = {
        r[0]
        for r in _in(
            conn,
            lambda p: select(suppressions.c.email_hash).where(suppressions.c.email_hash.in_(p)),
            list(hashes.values()),
        )
    }
    existing = {
        r.email: r
        for r in _in(
            conn, lambda p: select(subscribers).where(subscribers.c.email.in_(p)), list(by_email)
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
    consent = [
        {
            "subscriber_id": sid,
            "email": email,
            "event": ConsentEvent.IMPORTED.value,
            "occurred_at": ctx.now,
            "method": ConsentMethod.CSV_IMPORT.value,
            "source": f"import:{ctx.batch_id}"
            + (":consent-confirmed" if ctx.consent_confirmed else "")
            + f" by {ctx.staff_user}",
            "list_id": ctx.list_id,
            "consent_text_version": ctx.consent_text_version,
            "ip": None,
            "user_agent": None,
        }
        for sid, email in [*ids.items(), *((i, changed[i][0].email) for i in updated_ids)]
    ]
    if consent:
        conn.execute(consent_records.insert(), consent)
    return counts


def _insert_new(conn, ctx, rows, hashes, status) -> dict[int, str]:
    now = ctx.now
    values = [
        {
            "email": r.email,
            "email_hash": hashes[r.email],
            "first_name": r.first_name or None,
            "last_name": r.last_name or None,
            "status": status.value,
            "time_zone": r.time_zone or None,
            "signed_up_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    result = conn.execute(
        subscribers.insert().returning(subscribers.c.id, subscribers.c.email), values
    )
    ids = {sid: email for sid, email in result}
    id_of = {email: sid for sid, email in ids.items()}
    conn.execute(
        subscriptions.insert(),
        [
            {
                "subscriber_id": sid,
                "list_id": ctx.list_id,
                "status": status.value,
                "created_at": now,
                "updated_at": now,
                "confirmed_at": None if status == SubscriberStatus.PENDING else now,
                "unsubscribed_at": None,
            }
            for sid in ids
        ],
    )
    pairs = [(id_of[r.email], r) for r in rows if r.email in id_of]
    _add_names(conn, pairs)
    attrs = [
        {"subscriber_id": sid, "name": name, **attribute_value_columns(ctx.kinds[name], value)}
        for sid, r in pairs
        for name, value in (r.attributes or {}).items()
        if name in ctx.kinds and value is not None
    ]
    if attrs:
        conn.execute(subscriber_attributes.insert(), attrs)
    return ids


def _add_names(conn: Connection, pairs: Sequence[tuple[int, ImportRow]]) -> None:
    for attr, link, table, key in (
        ("tags", subscriber_tags, tags, "tag_id"),
        ("topics", subscriber_topics, topics, "topic_id"),
    ):
        wanted = {n for _sid, r in pairs for n in (getattr(r, attr) or ())}
        if not wanted:
            continue
        ids = name_ids(conn, table, wanted)
        links = [
            {"subscriber_id": sid, key: ids[n]}
            for sid, r in pairs
            for n in dict.fromkeys(getattr(r, attr) or ())
        ]
        insert_ignoring_conflicts(conn, link, links)


def _names_by_subscriber(conn, link, table, key, ids) -> defaultdict[int, set[str]]:
    found: defaultdict[int, set[str]] = defaultdict(set)
    query = select(link.c.subscriber_id, table.c.name).join(table, table.c.id == link.c[key])
    for sid, name in _in(conn, lambda p: query.where(link.c.subscriber_id.in_(p)), ids):
        found[sid].add(name)
    return found


def _update_existing(conn: Connection, ctx: ChunkContext, changed: dict) -> set[int]:
    """Apply new names, tags, topics, attributes and list membership; return changed ids."""
    ids = list(changed)
    have_tags = _names_by_subscriber(conn, subscriber_tags, tags, "tag_id", ids)
    have_topics = _names_by_subscriber(conn, subscriber_topics, topics, "topic_id", ids)
    have_attrs = {}
    attr_query = select(subscriber_attributes).where
    for r in _in(conn, lambda p: attr_query(subscriber_attributes.c.subscriber_id.in_(p)), ids):
        have_attrs[(r.subscriber_id, r.name)] = (r.value_text, r.value_number, r.value_date)
    memberships = {
        sid: status
        for sid, status in _in(
            conn,
            lambda p: select(subscriptions.c.subscriber_id, subscriptions.c.status).where(
                subscriptions.c.list_id == ctx.list_id, subscriptions.c.subscriber_id.in_(p)
            ),
            ids,
        )
    }
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
        for name, value in (row.attributes or {}).items():
            if name not in ctx.kinds or value is None:
                continue
            columns = attribute_value_columns(ctx.kinds[name], value)
            stored = (columns["value_text"], columns["value_number"], columns["value_date"])
            if have_attrs.get((sid, name)) != stored:
                attr_rows.append({"subscriber_id": sid, "name": name, **columns})
                touched.add(sid)
        if sid not in memberships:
            member_status = status if status in ("active", "pending") else "pending"
            new_subs.append((sid, member_status))
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
        keys = [(r["subscriber_id"], r["name"]) for r in attr_rows]
        for part in chunked(keys, 400):
            conn.execute(
                delete(subscriber_attributes).where(
                    tuple_(subscriber_attributes.c.subscriber_id, subscriber_attributes.c.name).in_(
                        part
                    )
                )
            )
        conn.execute(subscriber_attributes.insert(), attr_rows)
    if new_subs:
        now = ctx.now
        conn.execute(
            subscriptions.insert(),
            [
                {"subscriber_id": sid, "list_id": ctx.list_id, "status": st, "created_at": now,
                 "updated_at": now, "confirmed_at": now if st == "active" else None,
                 "unsubscribed_at": None}
                for sid, st in new_subs
            ],
        )  # fmt: skip
    return touched
