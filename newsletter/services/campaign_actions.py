"""What a person does to a campaign from the admin, each recorded in the audit log with who
did it: a test send to a few seed addresses, scheduling (with its late-send window),
unscheduling, pause, resume and cancel.

The rules stay where they are: `campaign_schedule` checks the approval and the checklist,
`campaigns` the status transitions (compare-and-set); this module adds the admin's limits
(at most ten test addresses, a sane late-send window) and the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from newsletter.accounts.service import Actor
from newsletter.audiences.emails import validate_email
from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.send_time import SendTime, local_instant, time_zone
from newsletter.errors import ValidationError
from newsletter.services import campaign_schedule, campaigns, test_sends
from newsletter.storage import audit_log, campaign_store
from newsletter.storage.database import Database

MAX_TEST_ADDRESSES = 10
MAX_LATE_WINDOW_H = 72
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_test_addresses(text: str) -> list[str]:
    """The seed list typed in a form (one per line, or separated by commas): at most ten
    valid addresses, duplicates dropped; otherwise a clear error naming the bad one."""
    given = [part for part in _SEPARATORS.split(text or "") if part]
    if not given:
        raise ValidationError(
            "no test address given", where="test addresses", fix="enter one address per line"
        )
    found: list[str] = []
    for raw in given:
        try:
            address = validate_email(raw)
        except ValueError as error:
            raise ValidationError(
                f"{raw[:100]!r} is not an email address ({error})",
                where="test addresses",
                fix="correct or remove it",
            ) from None
        if address not in found:
            found.append(address)
    if len(found) > MAX_TEST_ADDRESSES:
        raise ValidationError(
            f"{len(found)} test addresses given; a test goes to at most {MAX_TEST_ADDRESSES}",
            where="test addresses",
            fix=f"keep {MAX_TEST_ADDRESSES} or fewer (send to a segment for more)",
        )
    return found


def test_send(
    db: Database,
    settings: Settings,
    backend: DeliveryBackend,
    campaign_id: int,
    addresses: Sequence[str],
    *,
    actor: Actor,
    now: datetime,
) -> int:
    """`test_sends.send_test` (marked [TEST], tokens of purpose `test`, no ledger rows) to a
    checked seed list; the audit log records how many, not who."""
    checked = parse_test_addresses("\n".join(addresses))
    test_sends.send_test(db, settings, backend, campaign_id, checked)
    _record(db, actor, "campaign-test-send", campaign_id, now, {"addresses": len(checked)})
    return len(checked)


def send_time(local: str, zone_name: str, *, now: datetime) -> SendTime:
    """A wall-clock time from the form's date-time picker (`2026-12-08T09:00`) in an IANA
    zone → the instant, with a note when that local time is skipped or repeated there."""
    zone = time_zone(zone_name, where="time zone")
    try:
        naive = datetime.fromisoformat((local or "").strip())
    except ValueError:
        raise ValidationError(
            f"{(local or '')[:40]!r} is not a date and time",
            where="send time",
            fix="pick a date and a time (24-hour clock)",
        ) from None
    if naive.tzinfo is not None:
        naive = naive.replace(tzinfo=None)
    instant, note = local_instant(naive, zone)
    if instant < now - timedelta(seconds=60):
        raise ValidationError(
            f"{naive:%Y-%m-%d %H:%M} in {zone.key} is in the past",
            where="send time",
            fix="pick a time from now on",
        )
    return SendTime(instant, zone.key, note)


def late_window(text: str) -> int:
    """The late-send window in seconds from a number of hours (0 to 72)."""
    raw = (text or "").strip()
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= MAX_LATE_WINDOW_H:
        raise ValidationError(
            f"{raw[:20]!r} is not a late-send window",
            where="late-send window",
            fix=f"give a number of hours from 0 to {MAX_LATE_WINDOW_H}",
        )
    return int(hours * 3600)


def schedule(
    db: Database,
    settings: Settings,
    campaign_id: int,
    when: SendTime,
    *,
    late_window_s: int,
    actor: Actor,
    now: datetime,
) -> str:
    """Schedule (or move) a campaign: `campaign_schedule.schedule` checks the approval and
    the checklist; the late-send window is set while it is still scheduled."""
    before = campaign_schedule.schedule(
        db, settings, campaign_id, at=when.utc, time_zone_name=when.zone, now=now
    )
    with db.write() as conn:
        campaign_store.update_while(
            conn, campaign_id, CampaignStatus.SCHEDULED, late_send_window_s=late_window_s
        )
    detail = {"at": when.utc.astimezone(UTC).isoformat(), "time_zone": when.zone,
              "late_send_window_s": late_window_s, "was": before}  # fmt: skip
    _record(db, actor, "campaign-schedule", campaign_id, now, detail)
    return before


def unschedule(db: Database, campaign_id: int, *, actor: Actor, now: datetime) -> None:
    campaign_schedule.unschedule(db, campaign_id)
    _record(db, actor, "campaign-unschedule", campaign_id, now)


def pause(db: Database, campaign_id: int, *, actor: Actor, now: datetime) -> None:
    campaigns.pause(db, campaign_id, reason=f"paused by {actor.email}")
    _record(db, actor, "campaign-pause", campaign_id, now)


def resume(db: Database, campaign_id: int, *, actor: Actor, now: datetime) -> None:
    campaigns.resume(db, campaign_id)
    _record(db, actor, "campaign-resume", campaign_id, now)


def cancel(db: Database, campaign_id: int, *, actor: Actor, now: datetime) -> None:
    campaigns.cancel(db, campaign_id, now=now)
    _record(db, actor, "campaign-cancel", campaign_id, now)


def _record(
    db: Database,
    actor: Actor,
    action: str,
    campaign_id: int,
    now: datetime,
    detail: dict[str, object] | None = None,
) -> None:
    with db.write() as conn:
        audit_log.record(conn, actor=actor.audit_name, action=action,
                         target=f"campaign:{campaign_id}", now=now, detail=detail)  # fmt: skip
