"""Admin sessions (pure rules): random ids, their stored digests, and lifetimes.

A session id is 256 random bits, sent only in the cookie; the database keeps its SHA-256, so
a copy of the database holds no live session. A session ends after 30 minutes without a
request or 12 hours after sign-in, whichever comes first. `last_seen_at` is written at most
once a minute (`TOUCH_EVERY`), so reading a page does not take the write lock each time.
Stages: `mfa` (password accepted, the TOTP code is due), `enrol` (an admin without a second
factor must set one up first), `full`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
PARTIAL_TIMEOUT = timedelta(minutes=10)  # between password and second factor


class Stage(StrEnum):
    MFA = "mfa"
    ENROL = "enrol"
    FULL = "full"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode()
    )


def expired(
    *, stage: Stage | str, created_at: datetime, last_seen_at: datetime, now: datetime
) -> bool:
    if now - created_at >= ABSOLUTE_TIMEOUT or now - last_seen_at >= IDLE_TIMEOUT:
        return True
    return Stage(stage) is not Stage.FULL and now - created_at >= PARTIAL_TIMEOUT


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= TOUCH_EVERY
