"""Scheduling as a service (what the CLI and the web admin call), on both databases:
reschedule keeps the status, unschedule keeps the email, started campaigns refuse both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from newsletter.errors import ValidationError
from newsletter.services.campaign_schedule import schedule, unschedule
from newsletter.services.campaigns import create_campaign
from newsletter.storage import link_store
from newsletter.storage.sending_tables import campaigns
from tests.seed import REPO, SEED_TEXT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def campaign(db, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_AUDIENCES_DIR", str(REPO / "audiences"))
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.mindstream.example")
    from newsletter.config import load_settings

    settings = load_settings()
    return settings, create_campaign(db, settings, articles=[SEED_TEXT], segment="everyone")


def _links(db, campaign_id):
    with db.read() as conn:
        return link_store.links_of(conn, campaign_id)


def _row(db, campaign_id):
    with db.read() as conn:
        return conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()


def test_reschedule_moves_the_time_and_unschedule_keeps_the_email(db, campaign):
    settings, campaign_id = campaign
    first = NOW + timedelta(days=7)
    assert schedule(db, settings, campaign_id, at=first, now=NOW) == "draft"
    later = NOW + timedelta(days=8)
    assert schedule(db, settings, campaign_id, at=later, time_zone_name="Europe/Paris",
                    now=NOW) == "scheduled"  # fmt: skip
    row = _row(db, campaign_id)
    assert (row.status, row.scheduled_at, row.time_zone) == ("scheduled", later, "Europe/Paris")
    before = (row.subject, row.html, row.text, row.articles_json, _links(db, campaign_id))
    unschedule(db, campaign_id)
    row = _row(db, campaign_id)
    assert (row.status, row.scheduled_at) == ("draft", None)
    assert (row.subject, row.html, row.text, row.articles_json, _links(db, campaign_id)) == before
    assert schedule(db, settings, campaign_id, at=first, now=NOW) == "draft"  # and again


@pytest.mark.parametrize("status", ["planning", "sending", "sent", "cancelled"])
def test_a_started_or_ended_campaign_cannot_be_moved(db, campaign, status):
    settings, campaign_id = campaign
    schedule(db, settings, campaign_id, at=NOW + timedelta(days=1), now=NOW)
    with db.write() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(status=status))
    with pytest.raises(ValidationError, match=f"campaign {campaign_id} is {status}, not a draft"):
        schedule(db, settings, campaign_id, at=NOW + timedelta(days=2), now=NOW)
    with pytest.raises(ValidationError, match=f"is {status}, not scheduled"):
        unschedule(db, campaign_id)
    assert _row(db, campaign_id).scheduled_at == NOW + timedelta(days=1)


def test_the_service_refuses_a_past_time_and_an_unknown_zone(db, campaign):
    settings, campaign_id = campaign
    with pytest.raises(ValidationError, match="in the past"):
        schedule(db, settings, campaign_id, at=NOW - timedelta(minutes=5), now=NOW)
    with pytest.raises(ValidationError, match="not a time zone name"):
        schedule(db, settings, campaign_id, at=NOW + timedelta(days=1),
                 time_zone_name="Atlantis/Capital", now=NOW)  # fmt: skip
    assert _row(db, campaign_id).status == "draft"
