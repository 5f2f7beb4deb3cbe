"""The database's record of its secret key, checked whenever a command opens the database,
and rotation: re-keying every stored address hash in one transaction.

Why a record: the address hashes (suppressions, subscribers, confirmation requests) and the
links already mailed only work under the key they were made with. A command run with
another key (another working directory, a lost key file, a typo) must stop before it
writes a single hash the rest of the database cannot match, instead of quietly voiding
unsubscribe links and un-erasing erased people.

Rotation order: the new key is first in the ring, the old one after it; `newsletter secret
rotate` re-hashes every hash that can be re-hashed (those with the address at hand) and
records the new key as current, all in one transaction, so the send-time suppression check
(a join of subscriber and suppression hashes) never compares hashes under two keys. Erasure
hashes cannot be re-hashed (the address is gone): they stay under the key they were made
with, and every look-up hashes under every key of the ring (`domain.subscribers.lookup_hashes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.domain.subscribers import email_hash, email_hasher
from newsletter.errors import ConfigurationError
from newsletter.keys.ring import KeyRing
from newsletter.storage.database import Database
from newsletter.storage.tables import confirmation_requests, secret_keys, subscribers, suppressions

SETTING = "NEWSLETTER_SECRET_KEY (or NEWSLETTER_SECRET_KEY_FILE)"
_CHUNK = 5_000


@dataclass(frozen=True)
class Rotation:
    old_id: str
    new_id: str
    subscribers: int
    suppressions: int
    confirmations: int
    erasures_kept: int  # erasure hashes left under the old key (looked up under every key)


def check_database_key(db: Database, ring: KeyRing, *, now: datetime | None = None) -> None:
    """Refuse to work on a database whose hashes use another key than the ring's current one.

    A database without a record adopts the key its existing hashes match (or the current
    key when it holds none yet)."""
    with db.read() as conn:
        rows = conn.execute(select(secret_keys)).all()
    if not rows:
        _adopt(db, ring, now or datetime.now(UTC))
        with db.read() as conn:
            rows = conn.execute(select(secret_keys)).all()
    _compare(rows, ring)


def _compare(rows: Sequence[Row[Any]], ring: KeyRing) -> None:
    current = _check_known(rows, ring)
    if current.key_id != ring.current_id:
        raise ConfigurationError(
            f"the database's address hashes still use key {current.key_id!r}; the key ring's "
            f"current key is {ring.current_id!r}",
            where=SETTING,
            fix="stop `serve` and the engine, run `newsletter secret rotate` (re-keys the "
            "database in one transaction), then start them again",
        )


def _check_known(rows: Sequence[Row[Any]], ring: KeyRing) -> Row[Any]:
    """Every key the database used is in the ring, with the same fingerprint; returns the
    database's current key row."""
    current = next(row for row in rows if row.status == "current")
    for row in rows:
        if row.key_id not in ring.ids:
            role = "uses" if row is current else "used"
            raise ConfigurationError(
                f"this database {role} secret key {row.key_id!r}, which is not in the key ring",
                where=SETTING,
                fix=f"keep key {row.key_id!r} in the ring, after the current key (links "
                "already mailed carry its id and never expire); restore it from the backup "
                "made with the database",
            )
        if ring.fingerprint(row.key_id) != row.fingerprint:
            raise ConfigurationError(
                f"secret key {row.key_id!r} in the key ring is not the key {row.key_id!r} this "
                "database was used with",
                where=SETTING,
                fix="restore the key from the backup made with the database (a new key needs "
                "a new id: `newsletter secret generate`, then `newsletter secret rotate`)",
            )
    return current


def database_key_id(conn: Connection, ring: KeyRing) -> str:
    """The ring key the stored hashes match (a sample row), else the current key for a
    database without hashes. Raises when no key of the ring matches."""
    sample = (
        conn.execute(select(subscribers.c.email, subscribers.c.email_hash).limit(1)).first()
        or conn.execute(
            select(suppressions.c.email, suppressions.c.email_hash)
            .where(suppressions.c.email.is_not(None))
            .limit(1)
        ).first()
    )
    if sample is None:
        return ring.current_id
    for key_id in ring.ids:
        if email_hash(ring.secret(key_id) or "", sample.email) == sample.email_hash:
            return key_id
    raise ConfigurationError(
        "the address hashes in this database were made with a secret key that is not in the "
        "key ring",
        where=SETTING,
        fix="set the key this database was used with (restore it from the backup made with "
        "the database; a demo key is the `.secret` file next to the database file, or "
        "`.newsletter-secret` in the folder the demo ran from)",
    )


def _adopt(db: Database, ring: KeyRing, now: datetime) -> None:
    try:
        with db.write() as conn:
            if conn.scalar(select(secret_keys.c.key_id).limit(1)) is None:
                record_key(conn, ring, database_key_id(conn, ring), now)
    except IntegrityError:
        pass  # another process recorded it first (PostgreSQL): the caller re-reads it


def record_key(conn: Connection, ring: KeyRing, key_id: str, now: datetime) -> None:
    conn.execute(
        secret_keys.insert().values(
            key_id=key_id, fingerprint=ring.fingerprint(key_id), status="current", added_at=now
        )
    )


def rotate(db: Database, ring: KeyRing, *, now: datetime | None = None) -> Rotation | None:
    """Re-key every re-hashable address hash to the ring's current key and record it as the
    database's key, in one transaction. None when the database already uses it."""
    now = now or datetime.now(UTC)
    _adopt(db, ring, now)
    with db.write() as conn:
        rows = conn.execute(select(secret_keys)).all()
        current = _check_known(rows, ring)
        if current.key_id == ring.current_id:
            return None
        if ring.current_id in {row.key_id for row in rows}:
            raise ConfigurationError(
                f"key id {ring.current_id!r} was already used by this database",
                where=SETTING,
                fix="a new key needs an id never used before (`newsletter secret generate`)",
            )
        hasher = email_hasher(ring.current)
        counts = (
            _rehash(conn, subscribers, hasher),
            _rehash(conn, suppressions, hasher),
            _rehash_confirmations(conn, hasher),
        )
        kept = conn.scalar(
            select(func.count()).select_from(suppressions).where(suppressions.c.email.is_(None))
        )
        conn.execute(
            update(secret_keys)
            .where(secret_keys.c.key_id == current.key_id)
            .values(status="retired", retired_at=now)
        )
        record_key(conn, ring, ring.current_id, now)
    return Rotation(current.key_id, ring.current_id, *counts, erasures_kept=int(kept or 0))


def _rehash(conn: Connection, table: Table, hasher: Callable[[str], str]) -> int:
    query = select(table.c.id, table.c.email).where(table.c.email.is_not(None))
    rows = conn.execute(query.order_by(table.c.id)).all()
    statement = (
        update(table).where(table.c.id == bindparam("row_id")).values(email_hash=bindparam("h"))
    )
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        conn.execute(statement, [{"row_id": r.id, "h": hasher(r.email)} for r in part])
    return len(rows)


def _rehash_confirmations(conn: Connection, hasher: Callable[[str], str]) -> int:
    rows = conn.execute(
        select(confirmation_requests.c.id, subscribers.c.email).join(
            subscribers, subscribers.c.id == confirmation_requests.c.subscriber_id
        )
    ).all()
    statement = (
        update(confirmation_requests)
        .where(confirmation_requests.c.id == bindparam("row_id"))
        .values(email_hash=bindparam("h"))
    )
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        conn.execute(statement, [{"row_id": r.id, "h": hasher(r.email)} for r in part])
    return len(rows)
