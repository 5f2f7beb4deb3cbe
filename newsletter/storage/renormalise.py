"""Migration 0006's data step: addresses stored under the pre-NFKC key are re-normalised
(`audiences.emails.normalize_email`) and re-hashed, and people that the old key kept apart
(`ｊohn@…` and `john@…`) become one.

Merging keeps the row already in normal form (else the oldest), moves every membership,
tag, topic, attribute, consent record, event, confirmation request and delivery the other
row had and the survivor lacks, and keeps the stickiest status (a complaint, bounce or
unsubscribe is never lost to an `active` duplicate). Suppressions that collapse keep the
oldest row. Erasure hashes (no address) cannot be re-normalised: look-ups try both forms.

Written against the tables as they are at revision 0006, in plain SQL: later schema changes
must not change what this step did.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from newsletter.audiences.emails import normalize_email
from newsletter.storage.cascade import delete_cascading
from newsletter.storage.database import tuples

# Stickiest first: the status a merged person keeps.
_RANK = {"complained": 0, "bounced": 1, "unsubscribed": 2, "active": 3, "pending": 4}
_SUB_RANK = {"unsubscribed": 0, "active": 1, "pending": 2}


class MissingKey(RuntimeError):
    """Rows must be re-hashed but no key ring was handed to the migration."""


def renormalise(
    conn: Connection, hasher_for: Callable[[Connection], Callable[[str], str]] | None
) -> tuple[int, int, int]:
    """Re-normalise subscribers and suppressions in the caller's transaction; returns
    (subscribers changed, people merged, suppressions changed)."""
    people = _changed(conn, "subscribers")
    blocked = _changed(conn, "suppressions")
    if not people and not blocked:
        return 0, 0, 0
    if hasher_for is None:
        raise MissingKey(
            "migration 0006 re-hashes addresses and needs the secret key: run "
            "`newsletter db upgrade` (it passes the configured key ring)"
        )
    hasher = hasher_for(conn)
    merged = 0
    for row_id, new in people:
        other = conn.execute(
            text("SELECT id FROM subscribers WHERE email = :e AND id != :i"),
            {"e": new, "i": row_id},
        ).scalar()
        if other is None:
            conn.execute(
                text("UPDATE subscribers SET email = :e, email_hash = :h WHERE id = :i"),
                {"e": new, "h": hasher(new), "i": row_id},
            )
        else:
            _merge(conn, keep=other, gone=row_id)
            merged += 1
    for row_id, new in blocked:
        digest = hasher(new)
        taken = conn.execute(
            text("SELECT id FROM suppressions WHERE email_hash = :h AND id != :i"),
            {"h": digest, "i": row_id},
        ).scalar()
        if taken is None:
            conn.execute(
                text("UPDATE suppressions SET email = :e, email_hash = :h WHERE id = :i"),
                {"e": new, "h": digest, "i": row_id},
            )
        else:
            older, newer = sorted((taken, row_id))
            conn.execute(text("DELETE FROM suppressions WHERE id = :i"), {"i": newer})
            conn.execute(
                text("UPDATE suppressions SET email = :e, email_hash = :h WHERE id = :i"),
                {"e": new, "h": digest, "i": older},
            )
    return len(people), merged, len(blocked)


def _changed(conn: Connection, table: str) -> list[tuple[int, str]]:
    rows = conn.execute(
        text(f"SELECT id, email FROM {table} WHERE email IS NOT NULL ORDER BY id")  # noqa: S608
    )
    return [(r.id, new) for r in rows if (new := normalize_email(r.email)) != r.email]


def _merge(conn: Connection, *, keep: int, gone: int) -> None:
    ids = {"k": keep, "g": gone}

    def run(sql: str) -> None:
        conn.execute(text(sql), ids)

    query = text("SELECT id, status FROM subscribers WHERE id IN (:k, :g)")
    statuses: dict[int, str] = dict(tuples(conn.execute(query, ids)))
    stickiest = min(statuses.values(), key=lambda s: _RANK.get(s, 9))
    run_status = text("UPDATE subscribers SET status = :s WHERE id = :k")
    conn.execute(run_status, {"s": stickiest, **ids})
    # Memberships: move the lists the survivor lacks; where both have one, the stickier wins.
    for list_id, status in tuples(
        conn.execute(
            text("SELECT list_id, status FROM subscriptions WHERE subscriber_id = :g"), ids
        )
    ):
        mine = conn.execute(
            text("SELECT status FROM subscriptions WHERE subscriber_id = :k AND list_id = :l"),
            {"l": list_id, **ids},
        ).scalar()
        if mine is None:
            conn.execute(
                text("UPDATE subscriptions SET subscriber_id = :k "
                     "WHERE subscriber_id = :g AND list_id = :l"),
                {"l": list_id, **ids},
            )  # fmt: skip
        elif _SUB_RANK.get(status, 9) < _SUB_RANK.get(mine, 9):
            conn.execute(
                text("UPDATE subscriptions SET status = :s "
                     "WHERE subscriber_id = :k AND list_id = :l"),
                {"s": status, "l": list_id, **ids},
            )  # fmt: skip
    for table, column in (("subscriber_tags", "tag_id"), ("subscriber_topics", "topic_id"),
                          ("subscriber_attributes", "name")):  # fmt: skip
        run(
            f"UPDATE {table} SET subscriber_id = :k WHERE subscriber_id = :g AND {column} "  # noqa: S608
            f"NOT IN (SELECT {column} FROM {table} WHERE subscriber_id = :k)"
        )
    for table in ("consent_records", "subscriber_events", "confirmation_requests"):
        run(f"UPDATE {table} SET subscriber_id = :k WHERE subscriber_id = :g")  # noqa: S608
    if _has_table(conn, "deliveries"):
        run(
            "UPDATE deliveries SET subscriber_id = :k WHERE subscriber_id = :g AND campaign_id "
            "NOT IN (SELECT campaign_id FROM deliveries WHERE subscriber_id = :k)"
        )
    # What is left of the duplicate goes as the foreign keys say (applied by hand on SQLite,
    # where migrations run with foreign keys off).
    delete_cascading(conn, "subscribers", "id = :g", ids)


def _has_table(conn: Connection, name: str) -> bool:
    from sqlalchemy import inspect

    return name in inspect(conn).get_table_names()
