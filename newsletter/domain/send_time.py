"""Send times as a person says them: a wall-clock time in an IANA zone → one UTC instant.

Pure: the current time is passed in, nothing is read from the clock or the database.

- A local time that a spring-forward skips (02:30 on 8 March 2026 in New York) fires at the
  first valid instant after it (03:00 EDT), never an hour late as naive arithmetic would.
- A local time that a fall-back repeats (01:30 on 1 November 2026) means its first
  occurrence (`fold=0`: 01:30 EDT).
- A UTC offset written in the time is that instant; a zone name beside it is refused, since
  the two may disagree.
- A time more than `PAST_TOLERANCE` in the past is refused: it would only ever be `missed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.errors import ValidationError

PAST_TOLERANCE = timedelta(seconds=60)
LATE_AFTER = timedelta(seconds=60)  # a start later than this after its time is a late start
EXAMPLE = "2026-12-08 09:00"


@dataclass(frozen=True)
class SendTime:
    """The instant (aware UTC), the zone a person sees it in, and what was adjusted."""

    utc: datetime
    zone: str
    note: str = ""  # a skipped or repeated local time, said in words; empty when neither

    @property
    def local(self) -> datetime:
        return self.utc.astimezone(ZoneInfo(self.zone))


def time_zone(name: str, *, where: str = "--tz") -> ZoneInfo:
    """The IANA zone `name` (America/New_York, Europe/Paris, UTC…), or a clear error."""
    text = (name or "").strip()
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"{name!r} is not a time zone name",
            where=where,
            fix="use an IANA name such as America/New_York, America/Chicago, Europe/London or UTC",
        ) from None


def resolve(text: str, *, zone: str | None, default_zone: str, now: datetime) -> SendTime:
    """Parse `--at` (with the optional `--tz`) into a future send time; `now` is aware."""
    try:
        written = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{text!r} is not a date and time",
            where="--at",
            fix=f'write it as you would say it, e.g. --at "{EXAMPLE}" (24-hour clock), '
            "with --tz for a zone other than the clinic's",
        ) from None
    if written.tzinfo is not None:
        if zone:
            raise ValidationError(
                f"{text!r} has a UTC offset and --tz {zone} was given too",
                where="--at",
                fix=f'give one or the other: --at "{EXAMPLE}" --tz {zone}, or the offset alone',
            )
        time_zone(default_zone, where="NEWSLETTER_TIME_ZONE")
        result = SendTime(written.astimezone(UTC), default_zone)
    else:
        name = zone or default_zone
        instant, note = local_instant(
            written, time_zone(name, where="--tz" if zone else "NEWSLETTER_TIME_ZONE")
        )
        result = SendTime(instant, name, note)
    check_not_past(result.utc, now=now, zone=result.zone)
    return result


def local_instant(naive: datetime, zone: ZoneInfo) -> tuple[datetime, str]:
    """The UTC instant of a wall-clock time in `zone`, and a note if it was skipped or
    repeated there."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    # In UTC: aware times of one zone compare by their wall clock alone, whatever the fold.
    readings = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    if _wall(readings[0], zone) != naive:  # skipped: not on the clock that day
        instant = _transition(readings[0], readings[1], zone)
        shown = instant.astimezone(zone)
        return instant, (
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks spring forward "
            f"that night); it will go out at {shown:%H:%M %Z}, the first valid time after it"
        )
    if first.utcoffset() != second.utcoffset():  # repeated: the clocks fall back
        return first.astimezone(UTC), (
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks fall back that "
            f"night); it means the first one, {first:%H:%M %Z}"
        )
    return first.astimezone(UTC), ""


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _transition(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in (low, high] already on `high`'s offset: where a gap ends.
    (Offsets change on whole seconds; `low` is still on the old offset.)"""
    after = high.astimezone(zone).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            hi = middle
        else:
            lo = middle
    return datetime.fromtimestamp(hi, UTC)


def check_not_past(at: datetime, *, now: datetime, zone: str = "UTC") -> None:
    """Refuse a send time more than `PAST_TOLERANCE` before `now`."""
    if at < now - PAST_TOLERANCE:
        raise ValidationError(
            f"{describe(at, zone)} is {duration(now - at)} in the past",
            where="--at",
            fix="give a time in the future, or send it now with `newsletter campaign send ID`",
        )


def describe(at: datetime, zone: str | None) -> str:
    """`2026-12-08 09:00 EST (America/New_York) = 14:00 UTC`, for people and logs."""
    utc = at.astimezone(UTC)
    if not zone or zone == "UTC":
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    local = utc.astimezone(ZoneInfo(zone))
    same_day = local.date() == utc.date()
    return f"{local:%Y-%m-%d %H:%M %Z} ({zone}) = " + (
        f"{utc:%H:%M} UTC" if same_day else f"{utc:%Y-%m-%d %H:%M} UTC"
    )


def duration(span: timedelta) -> str:
    """`45 s`, `12 min`, `2 h 5 min`, `3 d 4 h`: how late or how far, in words."""
    seconds = int(abs(span).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        rest = minutes % 60
        return f"{hours} h" + (f" {rest} min" if rest else "")
    rest = hours % 24
    return f"{days} d" + (f" {rest} h" if rest else "")


def is_late(due: datetime, started: datetime) -> bool:
    return started - due > LATE_AFTER
