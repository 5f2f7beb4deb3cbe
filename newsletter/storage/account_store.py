"""Queries over the account tables (storage/account_tables.py). Callers own the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.engine import Row

from newsletter.accounts.throttle import Counter
from newsletter.storage.account_tables import login_throttle, recovery_codes, user_sessions, users
from newsletter.storage.audience_queries import insert_ignoring_conflicts


def any_user(conn: Connection) -> bool:
    """True once the first account exists (approval is enforced from then on)."""
    return bool(conn.scalar(select(exists().where(users.c.id.is_not(None)))))


def user_by_email(conn: Connection, email: str) -> Row | None:
    return conn.execute(select(users).where(users.c.email == email)).first()


def user_by_id(conn: Connection, user_id: int) -> Row | None:
    return conn.execute(select(users).where(users.c.id == user_id)).first()


def all_users(conn: Connection) -> list[Row]:
    return list(conn.execute(select(users).order_by(users.c.email)))


def emails_of(conn: Connection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(users.c.id, users.c.email).where(users.c.id.in_(sorted(ids))))
    return {row.id: row.email for row in rows}


def count_active_admins(conn: Connection) -> int:
    query = select(func.count()).where(users.c.role == "admin", users.c.disabled_at.is_(None))
    return int(conn.scalar(query) or 0)


def insert_user(conn: Connection, values: dict[str, Any]) -> int:
    inserted = conn.execute(insert(users).values(**values)).inserted_primary_key
    assert inserted is not None  # a single-row INSERT always has one
    return int(inserted[0])


def update_user(conn: Connection, user_id: int, **values: Any) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


def accept_totp_step(conn: Connection, user_id: int, step: int) -> bool:
    """Record the TOTP step used, compare-and-set, so two requests cannot both use it."""
    result = conn.execute(
        update(users)
        .where(
            users.c.id == user_id,
            (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


# --- sessions -------------------------------------------------------------------------------


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(user_sessions).values(**values))


def session_with_user(conn: Connection, id_digest: str) -> Row | None:
    query = (
        select(
            user_sessions,
            users.c.email,
            users.c.role,
            users.c.disabled_at,
            users.c.totp_secret,
        )
        .join(users, users.c.id == user_sessions.c.user_id)
        .where(user_sessions.c.id_digest == id_digest)
    )
    return conn.execute(query).first()


def touch_session(conn: Connection, id_digest: str, now: datetime) -> None:
    conn.execute(
        update(user_sessions).where(user_sessions.c.id_digest == id_digest).values(last_seen_at=now)
    )


def update_session(conn: Connection, id_digest: str, **values: Any) -> None:
    conn.execute(
        update(user_sessions).where(user_sessions.c.id_digest == id_digest).values(**values)
    )


def delete_session(conn: Connection, id_digest: str) -> None:
    conn.execute(delete(user_sessions).where(user_sessions.c.id_digest == id_digest))


def delete_sessions_of(conn: Connection, user_id: int) -> int:
    return int(
        conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user_id)).rowcount
    )


def delete_sessions_before(
    conn: Connection, created_before: datetime, idle_before: datetime
) -> int:
    result = conn.execute(
        delete(user_sessions).where(
            (user_sessions.c.created_at < created_before)
            | (user_sessions.c.last_seen_at < idle_before)
        )
    )
    return int(result.rowcount)


# --- recovery codes ---------------------------------------------------------------------------


def replace_recovery_codes(conn: Connection, user_id: int, digests: list[str]) -> None:
    conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    conn.execute(insert(recovery_codes), [{"user_id": user_id, "code_digest": d} for d in digests])


def use_recovery_code(conn: Connection, user_id: int, code_digest: str, now: datetime) -> bool:
    row = conn.execute(
        select(recovery_codes.c.id).where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_digest == code_digest,
            recovery_codes.c.used_at.is_(None),
        )
    ).first()
    if row is None:
        return False
    result = conn.execute(
        update(recovery_codes)
        .where(recovery_codes.c.id == row.id, recovery_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def unused_recovery_codes(conn: Connection, user_id: int) -> int:
    query = select(func.count()).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
    )
    return int(conn.scalar(query) or 0)


# --- login throttle ----------------------------------------------------------------------------


def throttle_counter(conn: Connection, key: str, *, for_update: bool = False) -> Counter:
    """The counter of `key`; `for_update` creates it if missing and locks its row, so
    concurrent failures on PostgreSQL each count (SQLite's writer lock does the same)."""
    if for_update:
        insert_ignoring_conflicts(conn, login_throttle, [{"key": key, "failures": 0}])
    query = select(login_throttle).where(login_throttle.c.key == key)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        return Counter()
    return Counter(row.failures, row.last_failure_at, row.locked_until)


def save_throttle(conn: Connection, key: str, counter: Counter) -> None:
    """Write a counter read with `for_update=True`."""
    conn.execute(
        update(login_throttle)
        .where(login_throttle.c.key == key)
        .values(
            failures=counter.failures,
            last_failure_at=counter.last_failure_at,
            locked_until=counter.locked_until,
        )
    )


def clear_throttle(conn: Connection, key: str) -> bool:
    return bool(conn.execute(delete(login_throttle).where(login_throttle.c.key == key)).rowcount)
