"""Tables of the admin's accounts: people, their sessions, recovery codes, login counters.

People are never deleted (disabled instead), so the audit log and the campaigns they wrote
keep pointing at someone. Sessions keep the SHA-256 of their id, never the id itself.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from newsletter.storage.tables import EMAIL_LENGTH, UTCDateTime, _fk, metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(EMAIL_LENGTH), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", String(64)),  # base32; NULL until enrolled
    Column("totp_last_step", BigInteger),  # the last accepted TOTP step (no replays)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_digest", String(64), primary_key=True),
    Column("user_id", Integer, _fk("users.id"), nullable=False),
    Column("stage", String(8), nullable=False),  # mfa | enrol | full
    Column("csrf_token", String(64), nullable=False),
    Column("pending_totp_secret", String(64)),  # while enrolling
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Index("ix_user_sessions_user_id", "user_id"),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, _fk("users.id"), nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("used_at", UTCDateTime),
    Index("ix_recovery_codes_user_id", "user_id"),
)

# One row per throttled key: `account:<address as typed, lower-cased>` or `address:<ip>`.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
)
