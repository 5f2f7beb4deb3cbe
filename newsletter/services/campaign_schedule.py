"""When a campaign goes out: now, or at a scheduled instant that the engine starts on time.

Every change is a compare-and-set on the campaign's status, after the pre-send checklist.
"""

from __future__ import annotations

from datetime import datetime

from newsletter.config import Settings
from newsletter.domain.campaigns import CampaignStatus
from newsletter.errors import ValidationError
from newsletter.services.campaign_checks import preflight
from newsletter.storage import campaign_store
from newsletter.storage.database import Database


def start_now(db: Database, settings: Settings, campaign_id: int, *, now: datetime) -> str:
    """Schedule a draft for now (after the checklist). Returns the status it is in."""
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    if row.status == CampaignStatus.DRAFT.value:
        preflight(row, settings)
        with db.write() as conn:
            campaign_store.transition(
                conn,
                campaign_id,
                CampaignStatus.SCHEDULED,
                only_from=[CampaignStatus.DRAFT.value],
                scheduled_at=now,
            )
    with db.read() as conn:
        return str(campaign_store.get_campaign(conn, campaign_id).status)


def schedule(db: Database, settings: Settings, campaign_id: int, *, at: datetime) -> None:
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    preflight(row, settings)
    with db.write() as conn:
        if not campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.SCHEDULED,
            only_from=[CampaignStatus.DRAFT.value],
            scheduled_at=at,
        ):
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}, not a draft",
                fix="only drafts can be scheduled",
            )
