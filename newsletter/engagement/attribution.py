"""Booked consultations: what a booking report may contain, and which campaign and link it is
attributed to (pure). Attribution is per campaign and link, from the campaign-constant UTM
values the booking page received: never per person (PD-6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FIELDS = ("booking_id", "occurred_at", "utm")
UTM_FIELDS = ("source", "medium", "campaign", "content")
MAX_BOOKING_ID = 200
MAX_UTM = 200


class BookingRefused(ValueError):
    """The report is not acceptable; `field` names what to fix (422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Booking:
    booking_id: str
    occurred_at: datetime
    utm: Mapping[str, str | None]


def parse_booking(data: Any) -> Booking:
    """A booking from the API's JSON body. Anything beyond the allow-list is refused by name:
    a clinic's booking system must never send us who booked or why."""
    if not isinstance(data, dict):
        raise BookingRefused("(body)", "the body must be a JSON object")
    for name in data:
        if name not in FIELDS:
            raise BookingRefused(
                name,
                f"field {name!r} is not accepted: send only "
                "booking_id, occurred_at and utm (nothing about the person)",
            )
    booking_id = data.get("booking_id")
    if not isinstance(booking_id, str) or not booking_id.strip():
        raise BookingRefused("booking_id", "booking_id must be a non-empty string")
    if len(booking_id) > MAX_BOOKING_ID:
        raise BookingRefused("booking_id", f"booking_id is longer than {MAX_BOOKING_ID}")
    occurred_at = parse_time(data.get("occurred_at"), "occurred_at")
    utm = data.get("utm", {})
    if utm is None:
        utm = {}
    if not isinstance(utm, dict):
        raise BookingRefused("utm", "utm must be an object")
    return Booking(booking_id.strip(), occurred_at, utm_values(utm, prefix="utm."))


def utm_values(
    utm: Mapping[str, Any], *, prefix: str, allow_more: bool = False
) -> dict[str, str | None]:
    """source, medium, campaign and content as strings or None; other keys refused by name
    (unless `allow_more`: a booking system's own tracking object has more, which we drop)."""
    values: dict[str, str | None] = {}
    for name, value in utm.items():
        short = name.removeprefix("utm_") if allow_more else name
        if short not in UTM_FIELDS:
            if allow_more:
                continue
            raise BookingRefused(
                f"{prefix}{name}",
                f"field '{prefix}{name}' is not accepted: "
                "utm holds source, medium, campaign and content only",
            )
        if value is not None and not isinstance(value, str):
            raise BookingRefused(f"{prefix}{name}", f"{prefix}{name} must be a string")
        values[short] = (value or "").strip()[:MAX_UTM] or None
    return {name: values.get(name) for name in UTM_FIELDS}


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise BookingRefused(field, f"{field} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BookingRefused(field, f"{field} {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise BookingRefused(field, f"{field} needs a time zone (e.g. 2026-12-08T14:00:00Z)")
    return parsed


@dataclass(frozen=True, slots=True)
class Candidate:
    """A campaign whose key matched utm_campaign, with its links that a booking may follow."""

    campaign_id: int
    started_at: datetime | None
    link_keys: frozenset[str]


def attribute(
    booking: Booking, candidates: Sequence[Candidate], *, window_days: int
) -> tuple[int | None, str | None]:
    """(campaign id, link key) or (None, None). The campaign must have started at most
    `window_days` before the booking (campaign keys repeat: the latest such start wins), and
    `utm_content` must be one of its links."""
    window = timedelta(days=window_days)
    started = [
        c
        for c in candidates
        if c.started_at is not None and c.started_at <= booking.occurred_at <= c.started_at + window
    ]
    if not started:
        return None, None
    chosen = max(started, key=lambda c: (c.started_at, c.campaign_id))
    content = booking.utm.get("content")
    if content is None or content not in chosen.link_keys:
        return None, None
    return chosen.campaign_id, content
