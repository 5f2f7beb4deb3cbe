"""Calendly's `invitee.created` webhook as a booking (pure: verify, then keep the allow-list).

Calendly signs each post with `Calendly-Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256
of "<t>.<raw body>" under the subscription's signing key>`. A post whose signature does not
verify, or whose time is more than `TOLERANCE_S` away, is refused before the body is read.
Of the body, only the invitee's URI (as the booking id, hashed when stored), the time and
the UTM values of its `tracking` object are kept; the rest (names, emails, answers to the
booking questions) is dropped with the raw body, which is never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from newsletter.engagement.attribution import Booking, BookingRefused, parse_time, utm_values

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
TOLERANCE_S = 180
BOOKED = "invitee.created"


def signature(key: str, timestamp: str, raw: bytes) -> str:
    return hmac.new(key.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


def verify(key: str, header: str | None, raw: bytes, *, now: float) -> bool:
    """True when `header` carries a fresh, valid signature of `raw` under `key`."""
    parts = dict(part.strip().split("=", 1) for part in (header or "").split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given:
        return False
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return False
    return hmac.compare_digest(given.lower(), signature(key, timestamp, raw))


def booking_from(raw: bytes) -> Booking | None:
    """The booking in an `invitee.created` post; None for any other event (ignored).
    BookingRefused when the post is not what Calendly sends."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise BookingRefused("(body)", "the body is not JSON") from None
    if not isinstance(data, dict) or data.get("event") != BOOKED:
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise BookingRefused("payload", "payload must be an object")
    uri = payload.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise BookingRefused("payload.uri", "the invitee's uri is missing")
    occurred = parse_time(payload.get("created_at") or data.get("created_at"), "created_at")
    tracking = payload.get("tracking")
    if not isinstance(tracking, dict):
        tracking = {}
    utm = utm_values(
        {k: v for k, v in tracking.items() if isinstance(v, str) or v is None},
        prefix="payload.tracking.",
        allow_more=True,
    )
    return Booking(uri.strip()[:200], occurred, utm)
