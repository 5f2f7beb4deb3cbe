"""Managing people: create, list, disable/enable, change role, reset password, unlock.

Every change is recorded in the audit log in its own transaction, with who did it (`actor`:
`user:<email>` from the admin, `staff:<login>` from the CLI). A role change, a password reset
and disabling all end the person's sessions. The last active admin cannot be disabled or
demoted, so the admin can never lock itself out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newsletter.accounts.passwords import hash_password
from newsletter.accounts.roles import DESCRIPTIONS, Action, Role, allowed, parse_role
from newsletter.audiences.emails import validate_email
from newsletter.errors import Forbidden, NotFound, ValidationError
from newsletter.storage import account_store, audit_log
from newsletter.storage.database import Database

ACCOUNT_KEY = "account:"


@dataclass(frozen=True)
class Actor:
    """A signed-in person (or a CLI `--as` account) acting now."""

    id: int
    email: str
    role: Role

    @property
    def audit_name(self) -> str:
        return f"user:{self.email}"

    def may(self, action: Action) -> bool:
        return allowed(self.role, action)


def normal_email(email: str, *, where: str = "email") -> str:
    try:
        return validate_email(email)
    except ValueError as exc:
        raise ValidationError(
            f"{email[:80]!r} is not an email address ({exc})",
            where=where,
            fix="give the person's work address, e.g. jane@clinic.example",
        ) from None


def lookup_key(email: str) -> str:
    """What an address typed at sign-in is looked up and throttled by."""
    return email.strip().lower()[:254]


def create_user(
    db: Database, email: str, role: str, password: str, *, actor: str, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    address = normal_email(email)
    chosen = parse_role(role)
    hashed = hash_password(password)
    with db.write() as conn:
        if account_store.user_by_email(conn, address) is not None:
            raise ValidationError(
                f"an account for {address} exists already",
                where="email",
                fix="use `newsletter users set-role` or `reset-password` to change it",
            )
        user_id = account_store.insert_user(
            conn,
            {
                "email": address,
                "role": chosen.value,
                "password_hash": hashed,
                "created_at": now,
                "updated_at": now,
                "password_changed_at": now,
            },
        )
        audit_log.record(
            conn,
            actor=actor,
            action="user-created",
            target=f"user:{address}",
            now=now,
            detail={"role": chosen.value},
        )
    return user_id


def list_users(db: Database) -> list[Any]:
    with db.read() as conn:
        return account_store.all_users(conn)


def get_user(conn: Any, email: str) -> Any:
    row = account_store.user_by_email(conn, lookup_key(email))
    if row is None:
        raise NotFound(f"no account for {email[:80]!r}", fix="`newsletter users list` shows them")
    return row


def actor_for(db: Database, email: str, action: Action) -> Actor:
    """The account named by a CLI `--as EMAIL`, checked: it exists, is enabled, and its role
    may do `action`."""
    with db.read() as conn:
        row = get_user(conn, email)
    if row.disabled_at is not None:
        raise Forbidden(
            f"the account {row.email} is disabled",
            where="--as",
            fix="ask an admin to enable it, or act as another account",
        )
    actor = Actor(row.id, row.email, Role(row.role))
    if not actor.may(action):
        raise Forbidden(
            f"{row.email} is a {row.role}; a {row.role} may not {DESCRIPTIONS[action]}",
            where="--as",
            fix="act as an account whose role allows it",
        )
    return actor


def set_disabled(
    db: Database, email: str, disabled: bool, *, actor: str, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    with db.write() as conn:
        row = get_user(conn, email)
        if disabled and row.role == Role.ADMIN and row.disabled_at is None:
            _keep_an_admin(conn, row.email)
        account_store.update_user(
            conn, row.id, disabled_at=now if disabled else None, updated_at=now
        )
        ended = account_store.delete_sessions_of(conn, row.id) if disabled else 0
        audit_log.record(
            conn,
            actor=actor,
            action="user-disabled" if disabled else "user-enabled",
            target=f"user:{row.email}",
            now=now,
            detail={"sessions_ended": ended},
        )


def set_role(
    db: Database, email: str, role: str, *, actor: str, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    chosen = parse_role(role)
    with db.write() as conn:
        row = get_user(conn, email)
        if row.role == chosen.value:
            return
        if row.role == Role.ADMIN and row.disabled_at is None:
            _keep_an_admin(conn, row.email)
        account_store.update_user(conn, row.id, role=chosen.value, updated_at=now)
        ended = account_store.delete_sessions_of(conn, row.id)  # a new session for new rights
        audit_log.record(
            conn,
            actor=actor,
            action="role-changed",
            target=f"user:{row.email}",
            now=now,
            detail={"from": row.role, "to": chosen.value, "sessions_ended": ended},
        )


def reset_password(
    db: Database, email: str, password: str, *, actor: str, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    hashed = hash_password(password)
    with db.write() as conn:
        row = get_user(conn, email)
        account_store.update_user(
            conn, row.id, password_hash=hashed, password_changed_at=now, updated_at=now
        )
        ended = account_store.delete_sessions_of(conn, row.id)
        audit_log.record(
            conn,
            actor=actor,
            action="password-reset",
            target=f"user:{row.email}",
            now=now,
            detail={"sessions_ended": ended},
        )


def unlock(db: Database, email: str, *, actor: str, now: datetime | None = None) -> bool:
    """Clear the sign-in lock of an account; False if it was not locked or throttled."""
    now = now or datetime.now(UTC)
    with db.write() as conn:
        row = get_user(conn, email)
        cleared = account_store.clear_throttle(conn, ACCOUNT_KEY + row.email)
        audit_log.record(
            conn,
            actor=actor,
            action="user-unlocked",
            target=f"user:{row.email}",
            now=now,
            detail={"was_throttled": cleared},
        )
    return cleared


def lock_state(db: Database, emails: list[str], now: datetime) -> dict[str, datetime]:
    """Accounts locked now → until when."""
    locked = {}
    with db.read() as conn:
        for email in emails:
            counter = account_store.throttle_counter(conn, ACCOUNT_KEY + email)
            if counter.locked_until is not None and counter.locked_until > now:
                locked[email] = counter.locked_until
    return locked


def _keep_an_admin(conn: Any, email: str) -> None:
    if account_store.count_active_admins(conn) <= 1:
        raise ValidationError(
            f"{email} is the last active admin",
            where="users",
            fix="make another account an admin first",
        )
