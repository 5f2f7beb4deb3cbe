"""Signing in and out, the second factor, and loading a session from its cookie.

`sign_in` checks the throttle (per account and per client address) before the password, so a
locked account answers the same whatever is typed; failures count, a success clears the
account's count. A session starts at stage `full`, or `mfa`/`enrol` for an admin, and gets
a new id each time its rights grow (second factor done); changing one's password ends every
other session. Every sign-in, failure, refusal and sign-out is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from newsletter.accounts import sessions, throttle, totp
from newsletter.accounts.passwords import (
    hash_password,
    needs_rehash,
    verify_password,
)
from newsletter.accounts.roles import Role, needs_second_factor
from newsletter.accounts.service import ACCOUNT_KEY, lookup_key
from newsletter.accounts.sessions import Stage
from newsletter.errors import NewsletterError
from newsletter.storage import account_store, audit_log
from newsletter.storage.database import Database

ADDRESS_KEY = "address:"
WRONG = "The email address or the password is wrong."


class LoginRefused(NewsletterError):
    """Sign-in refused: wrong credentials, or throttled (`retry_after_s` > 0)."""

    def __init__(self, message: str, *, retry_after_s: int = 0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SessionUser:
    digest: str
    user_id: int
    email: str
    role: Role
    stage: Stage
    csrf_token: str
    created_at: datetime
    pending_totp_secret: str | None
    has_totp: bool


def _throttle_check(
    conn: Connection, keys: list[tuple[str, throttle.Policy]], now: datetime
) -> None:
    for key, policy in keys:
        verdict = throttle.verdict(account_store.throttle_counter(conn, key), policy, now)
        if not verdict.allowed:
            what = "locked" if verdict.locked else "paused"
            raise LoginRefused(
                f"Too many failed attempts: signing in is {what} for "
                f"{_duration(verdict.retry_after_s)}."
                + (" An admin can unlock the account." if verdict.locked else ""),
                retry_after_s=verdict.retry_after_s,
            )


def _keys(email: str, address: str | None) -> list[tuple[str, throttle.Policy]]:
    keys = [(ACCOUNT_KEY + lookup_key(email), throttle.ACCOUNT)]
    if address:
        keys.append((ADDRESS_KEY + address[:250], throttle.ADDRESS))
    return keys


def _count_failure(
    conn: Connection, keys: list[tuple[str, throttle.Policy]], now: datetime
) -> bool:
    """Count a failure on every key; True if the account has just been locked."""
    locked = False
    for key, policy in keys:
        before = account_store.throttle_counter(conn, key, for_update=True)
        after = throttle.after_failure(before, policy, now)
        account_store.save_throttle(conn, key, after)
        if key.startswith(ACCOUNT_KEY) and after.locked_until not in (None, before.locked_until):
            locked = True
    return locked


def sign_in(
    db: Database, *, email: str, password: str, address: str | None, now: datetime
) -> tuple[str, Stage]:
    """Check the credentials; return a new session id (for the cookie) and its stage."""
    keys = _keys(email, address)
    key = lookup_key(email)
    refused: LoginRefused | None = None
    with db.read() as conn:
        try:
            _throttle_check(conn, keys, now)
        except LoginRefused as error:
            refused = error
        row = account_store.user_by_email(conn, key)
    actor = f"user:{row.email}" if row is not None else "anonymous"
    detail = {"address": address or "?"}
    if refused is not None:
        with db.write() as conn:
            audit_log.record(
                conn, actor=actor, action="login-refused", target="admin", now=now, detail=detail
            )
        raise refused
    good = verify_password(row.password_hash if row is not None else None, password)
    if not good or row is None or row.disabled_at is not None:
        with db.write() as conn:
            locked = _count_failure(conn, keys, now)
            reason = "disabled" if good else ("unknown account" if row is None else "password")
            audit_log.record(
                conn,
                actor=actor,
                action="login-failed",
                target="admin",
                now=now,
                detail={**detail, "reason": reason},
            )
            if locked:
                audit_log.record(
                    conn,
                    actor=actor,
                    action="account-locked",
                    target="admin",
                    now=now,
                    detail=detail,
                )
        raise LoginRefused(WRONG)
    stage = Stage.FULL
    if needs_second_factor(row.role):
        stage = Stage.MFA if row.totp_secret else Stage.ENROL
    session_id = sessions.new_session_id()
    with db.write() as conn:
        account_store.clear_throttle(conn, keys[0][0])
        if needs_rehash(row.password_hash):
            account_store.update_user(conn, row.id, password_hash=hash_password(password))
        _insert_session(conn, session_id, row.id, stage, now)
        account_store.delete_sessions_before(  # abandoned sessions, everyone's
            conn, now - sessions.ABSOLUTE_TIMEOUT, now - sessions.IDLE_TIMEOUT
        )
        audit_log.record(
            conn,
            actor=actor,
            action="login",
            target="admin",
            now=now,
            detail={**detail, "stage": stage.value},
        )
    return session_id, stage


def _insert_session(
    conn: Connection, session_id: str, user_id: int, stage: Stage, now: datetime
) -> None:
    account_store.insert_session(
        conn,
        {
            "id_digest": sessions.digest(session_id),
            "user_id": user_id,
            "stage": stage.value,
            "csrf_token": sessions.new_csrf_token(),
            "created_at": now,
            "last_seen_at": now,
        },
    )


def load_session(db: Database, session_id: str | None, now: datetime) -> SessionUser | None:
    """The live session of this cookie value, or None (unknown, expired, or disabled user)."""
    if not session_id or len(session_id) > 100:
        return None
    digest = sessions.digest(session_id)
    with db.read() as conn:
        row = account_store.session_with_user(conn, digest)
    if row is None:
        return None
    if row.disabled_at is not None or sessions.expired(
        stage=row.stage, created_at=row.created_at, last_seen_at=row.last_seen_at, now=now
    ):
        with db.write() as conn:
            account_store.delete_session(conn, digest)
        return None
    if sessions.needs_touch(row.last_seen_at, now):
        with db.write() as conn:
            account_store.touch_session(conn, digest, now)
    return SessionUser(
        digest=digest,
        user_id=row.user_id,
        email=row.email,
        role=Role(row.role),
        stage=Stage(row.stage),
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        pending_totp_secret=row.pending_totp_secret,
        has_totp=row.totp_secret is not None,
    )


def sign_out(db: Database, session: SessionUser, *, now: datetime) -> None:
    with db.write() as conn:
        account_store.delete_session(conn, session.digest)
        audit_log.record(
            conn, actor=f"user:{session.email}", action="logout", target="admin", now=now
        )


def _promote(conn: Connection, session: SessionUser, now: datetime) -> str:
    """Replace the session by a new one at stage full (new id on privilege change)."""
    account_store.delete_session(conn, session.digest)
    session_id = sessions.new_session_id()
    _insert_session(conn, session_id, session.user_id, Stage.FULL, now)
    return session_id


def second_factor(
    db: Database, session: SessionUser, code: str, *, address: str | None, now: datetime
) -> str:
    """Finish an admin's sign-in with a TOTP code or a recovery code; a new session id."""
    keys = _keys(session.email, address)
    with db.read() as conn:
        _throttle_check(conn, keys, now)
        user = account_store.user_by_id(conn, session.user_id)
    assert user is not None and user.totp_secret is not None
    actor = f"user:{session.email}"
    with db.write() as conn:
        step = totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
        ok = step is not None and account_store.accept_totp_step(conn, user.id, step)
        how = "totp"
        if not ok and totp.looks_like_recovery_code(code):
            ok = account_store.use_recovery_code(conn, user.id, totp.recovery_digest(code), now)
            how = "recovery-code"
        if ok:
            account_store.clear_throttle(conn, keys[0][0])
            new_id = _promote(conn, session, now)
            audit_log.record(
                conn,
                actor=actor,
                action="login-2fa",
                target="admin",
                now=now,
                detail={"method": how},
            )
            return new_id
        _count_failure(conn, keys, now)
        audit_log.record(
            conn,
            actor=actor,
            action="login-2fa-failed",
            target="admin",
            now=now,
            detail={"address": address or "?"},
        )
    raise LoginRefused("That code is not valid. Enter the 6 digits your app shows now.")


def enrolment_secret(db: Database, session: SessionUser) -> str:
    """The secret being enrolled in this session (made on first call, kept until confirmed)."""
    if session.pending_totp_secret:
        return session.pending_totp_secret
    secret = totp.new_secret()
    with db.write() as conn:
        account_store.update_session(conn, session.digest, pending_totp_secret=secret)
    return secret


def finish_enrolment(
    db: Database, session: SessionUser, code: str, *, now: datetime
) -> tuple[str, list[str]]:
    """Confirm the new second factor with a code from the app: store it, make ten recovery
    codes (returned once, stored as digests), and promote the session (new id)."""
    secret = session.pending_totp_secret
    step = totp.matching_step(secret, code, now, None) if secret else None
    if step is None:
        raise LoginRefused(
            "That code does not match. Scan the QR code again and enter the "
            "6 digits your app shows now."
        )
    codes = totp.new_recovery_codes()
    with db.write() as conn:
        account_store.update_user(
            conn, session.user_id, totp_secret=secret, totp_last_step=step, updated_at=now
        )
        account_store.replace_recovery_codes(
            conn, session.user_id, [totp.recovery_digest(c) for c in codes]
        )
        new_id = _promote(conn, session, now)
        audit_log.record(
            conn,
            actor=f"user:{session.email}",
            action="totp-enrolled",
            target=f"user:{session.email}",
            now=now,
        )
    return new_id, codes


def change_password(
    db: Database, session: SessionUser, current: str, new: str, *, now: datetime
) -> str:
    """Change one's own password; every session of the account ends, this one is replaced."""
    with db.read() as conn:
        user = account_store.user_by_id(conn, session.user_id)
    assert user is not None
    if not verify_password(user.password_hash, current):
        raise LoginRefused("The current password is wrong.")
    hashed = hash_password(new)
    with db.write() as conn:
        account_store.update_user(
            conn, user.id, password_hash=hashed, password_changed_at=now, updated_at=now
        )
        ended = account_store.delete_sessions_of(conn, user.id)
        session_id = sessions.new_session_id()
        _insert_session(conn, session_id, user.id, session.stage, now)
        audit_log.record(
            conn,
            actor=f"user:{user.email}",
            action="password-changed",
            target=f"user:{user.email}",
            now=now,
            detail={"sessions_ended": ended},
        )
    return session_id


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    if minutes < 120:
        return f"{minutes} minutes"
    return "until an admin unlocks it"
