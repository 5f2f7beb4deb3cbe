"""When a campaign goes out: now, or at a scheduled instant that the engine starts on time.

Every change is a compare-and-set on the campaign's status, after the pre-send checklist.
A send time is stored as a UTC instant with the IANA zone it was given in (shown in both);
`domain.send_time` turns what a person writes into that instant.
"""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.config import Settings
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.send_time import check_not_past, time_zone
from newsletter.errors import ValidationError
from newsletter.services import approval
from newsletter.services.campaign_checks import preflight
from newsletter.storage import campaign_store
from newsletter.storage.database import Database

DRAFT, SCHEDULED = CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value


def start_now(db: Database, settings: Settings, campaign_id: int, *, now: datetime) -> str:
    """Schedule a draft for now (after the checklist). Returns the status it is in."""
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    if row.status == CampaignStatus.DRAFT.value:
        preflight(row, settings)
        with db.write() as conn:
            approval.require_approval(conn, settings, campaign_id)
            campaign_store.transition(
                conn,
                campaign_id,
                CampaignStatus.SCHEDULED,
                only_from=[CampaignStatus.DRAFT.value],
                scheduled_at=now,
            )
    with db.read() as conn:
        return str(campaign_store.get_campaign(conn, campaign_id).status)


def schedule(
    db: Database,
    settings: Settings,
    campaign_id: int,
    *,
    at: datetime,
    time_zone_name: str | None = None,
    now: datetime | None = None,
) -> str:
    """Schedule a draft, or move a scheduled campaign to a new time, after the checklist.

    `at` is an aware instant; `time_zone_name` (default: the campaign's own) is the zone it
    is shown in. A time more than a minute before `now` is refused. Returns the status the
    campaign was in (draft or scheduled)."""
    now = now or datetime.now(UTC)
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    zone = time_zone_name or row.time_zone
    time_zone(zone)
    check_not_past(at, now=now, zone=zone)
    if row.status not in (DRAFT, SCHEDULED):
        raise _not_schedulable(campaign_id, row.status)
    preflight(row, settings)
    instant = at.astimezone(UTC)
    with db.write() as conn:
        approval.require_approval(conn, settings, campaign_id)
        if row.status == SCHEDULED:  # a new time: the status stays
            done = campaign_store.update_while(
                conn, campaign_id, CampaignStatus.SCHEDULED, scheduled_at=instant, time_zone=zone
            )
        else:
            done = campaign_store.transition(conn, campaign_id, CampaignStatus.SCHEDULED,
                                             only_from=[DRAFT], scheduled_at=instant,
                                             time_zone=zone)  # fmt: skip
        if not done:  # the engine started it, or someone cancelled it, meanwhile
            current = campaign_store.get_campaign(conn, campaign_id).status
            raise _not_schedulable(campaign_id, current)
    return str(row.status)


def unschedule(db: Database, campaign_id: int) -> None:
    """A scheduled campaign back to draft, before the engine starts it.

    Only the status and the send time change, never the stored email: an approval of that
    content stays valid, since only a change of content should call for a new one."""
    with db.write() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        if not campaign_store.transition(
            conn, campaign_id, CampaignStatus.DRAFT, only_from=[SCHEDULED], scheduled_at=None
        ):
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}, not scheduled",
                fix="only a scheduled campaign that has not started can be unscheduled; "
                "pause or cancel one that is sending",
            )


def _not_schedulable(campaign_id: int, status: str) -> ValidationError:
    return ValidationError(
        f"campaign {campaign_id} is {status}, not a draft or scheduled",
        fix="only drafts and scheduled campaigns that have not started can be (re)scheduled",
    )
