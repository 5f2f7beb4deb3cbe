"""`newsletter campaign …` through the real entry point, on SQLite and PostgreSQL: scheduling
in a person's time zone, campaigns for a list, and the checklist's warnings at creation."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries
from newsletter.storage.tables import subscribers
from tests.audience_db import db, db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.seed import REPO, SEED_TEXT

CONSENT = "I agree to receive the Mindstream Medicine newsletter."


def _row(db_url: str, campaign_id: int):  # noqa: F811
    database = Database.from_url(db_url)
    try:
        with database.read() as conn:
            return conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()
    finally:
        database.close()


def _create(cli, *options: str) -> int:
    created = cli("campaign", "create", "--article", SEED_TEXT, *options)
    assert created.code == 0, created.err
    return int(created.out.strip().splitlines()[-1])


def test_schedule_in_a_named_zone_then_reschedule_and_unschedule(cli, workdir, db_url):  # noqa: F811
    campaign_id = _create(cli, "--segment", "everyone")
    assert _row(db_url, campaign_id).time_zone == "America/New_York"  # the clinic's default

    chicago = cli("campaign", "schedule", campaign_id, "--at", "2030-01-08 09:00",
                  "--tz", "America/Chicago")  # fmt: skip
    assert chicago.code == 0, chicago.err
    assert f"Campaign {campaign_id} scheduled for 2030-01-08 09:00 CST (America/Chicago) = " \
           "15:00 UTC." in chicago.out  # fmt: skip
    row = _row(db_url, campaign_id)
    assert (row.status, row.time_zone) == ("scheduled", "America/Chicago")
    assert row.scheduled_at == datetime(2030, 1, 8, 15, 0, tzinfo=UTC)

    status = json.loads(cli("campaign", "status", campaign_id, "--json").out)
    assert status["scheduled_at"] == "2030-01-08T15:00:00Z"
    assert status["scheduled_local"] == "2030-01-08T09:00:00-06:00"
    assert status["time_zone"] == "America/Chicago" and status["target"] == "segment:everyone"
    shown = cli("campaign", "status", campaign_id).out
    assert "2030-01-08 09:00 CST (America/Chicago) = 15:00 UTC" in shown
    listed = cli("campaign", "list").out
    assert "2030-01-08 09:00 CST" in listed and "2030-01-08 15:00 UTC" in listed
    assert "America/Chicago" in listed and "segment:everyone" in listed

    # Rescheduled in the clinic's zone, on a time the spring-forward skips.
    spring = cli("campaign", "schedule", campaign_id, "--at", "2030-03-10 02:30")
    assert spring.code == 0, spring.err
    assert "does not exist in America/New_York" in spring.out
    assert f"Campaign {campaign_id} rescheduled for 2030-03-10 03:00 EDT (America/New_York)" \
        in spring.out  # fmt: skip
    row = _row(db_url, campaign_id)
    assert row.scheduled_at == datetime(2030, 3, 10, 7, 0, tzinfo=UTC)
    assert row.time_zone == "America/New_York"

    unscheduled = cli("campaign", "unschedule", campaign_id)
    assert unscheduled.code == 0 and "draft again" in unscheduled.out
    row = _row(db_url, campaign_id)
    assert (row.status, row.scheduled_at) == ("draft", None)
    again = cli("campaign", "unschedule", campaign_id)
    assert again.code == 2 and f"campaign {campaign_id} is draft, not scheduled" in again.err


def test_schedule_refuses_past_times_offsets_with_tz_and_unknown_zones(cli, workdir, db_url):  # noqa: F811
    campaign_id = _create(cli, "--segment", "everyone")
    past = cli("campaign", "schedule", campaign_id, "--at", "2026-01-05 09:00")
    assert past.code == 2
    assert "2026-01-05 09:00 EST (America/New_York) = 14:00 UTC is " in past.err
    assert "in the past" in past.err and "Traceback" not in past.err
    both = cli("campaign", "schedule", campaign_id, "--at", "2030-01-08T09:00:00-05:00",
               "--tz", "America/New_York")  # fmt: skip
    assert both.code == 2 and "has a UTC offset and --tz America/New_York was given" in both.err
    mars = cli("campaign", "schedule", campaign_id, "--at", "2030-01-08 09:00", "--tz", "Mars/Base")
    assert mars.code == 2 and "'Mars/Base' is not a time zone name" in mars.err
    vague = cli("campaign", "schedule", campaign_id, "--at", "tomorrow at nine")
    assert vague.code == 2 and '--at "2026-12-08 09:00"' in vague.err
    offset = cli("campaign", "schedule", campaign_id, "--at", "2030-01-08T09:00:00-05:00")
    assert offset.code == 0, offset.err
    assert _row(db_url, campaign_id).scheduled_at == datetime(2030, 1, 8, 14, 0, tzinfo=UTC)
    assert _row(db_url, campaign_id).status == "scheduled"


def test_a_campaign_for_a_list_reaches_exactly_its_active_members(cli, workdir, db_url):  # noqa: F811
    assert cli("lists", "create", "news", "--double-opt-in").code == 0
    assert cli("lists", "create", "events").code == 0
    roster = workdir / "news.csv"
    roster.write_text("email,first_name\nann@example.org,Ann\nbob@example.org,Bob\n"
                      "cat@example.org,Cat\n")  # fmt: skip
    imported = cli("subscribers", "import", roster, "--list", "news", "--consent", CONSENT,
                   "--consent-confirmed")  # fmt: skip
    assert imported.code == 0, imported.err
    # Dan is only on another list; Eve signed up to news and has not confirmed yet.
    assert cli("subscribers", "add", "dan@example.org", "--list", "events",
               "--consent", CONSENT).code == 0  # fmt: skip
    assert cli("subscribers", "add", "eve@example.org", "--list", "news",
               "--consent", CONSENT).code == 0  # fmt: skip
    assert cli("lists", "remove", "news", "bob@example.org").code == 0  # left the list
    assert cli("subscribers", "unsubscribe", "cat@example.org").code == 0  # suppressed

    campaign_id = _create(cli, "--list", "news")
    assert _row(db_url, campaign_id).target == "list:news"
    sent = cli("campaign", "send", campaign_id, "--yes")
    assert sent.code == 0, sent.out + sent.err
    assert "→ list:news: 1 recipient(s) now." in sent.out

    database = Database.from_url(db_url)
    try:
        with database.read() as conn:
            reached = conn.scalars(
                select(subscribers.c.email)
                .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                .where(deliveries.c.campaign_id == campaign_id)
            ).all()
    finally:
        database.close()
    assert reached == ["ann@example.org"]
    assert json.loads(cli("campaign", "status", campaign_id, "--json").out)["target"] == (
        "list:news"
    )
    unknown = cli("campaign", "create", "--article", SEED_TEXT, "--list", "nope")
    assert unknown.code == 2 and "unknown list 'nope'" in unknown.err
    neither = cli("campaign", "create", "--article", SEED_TEXT)
    assert neither.code == 2 and "give either --segment NAME or --list NAME" in neither.err


def test_create_warns_early_and_send_and_schedule_still_refuse(cli, workdir, monkeypatch):  # noqa: F811
    long_subject = "A subject that goes on and on about neuroplasticity, ketamine and more news"
    long_subject += " today"
    assert len(long_subject) == 81
    created = cli("campaign", "create", "--article", SEED_TEXT, "--segment", "everyone",
                  "--subject", long_subject)  # fmt: skip
    assert created.code == 0, created.err
    campaign_id = int(created.out.strip().splitlines()[-1])
    assert "Warning: Subject: 81 characters (max 78) (blocks sending)" in created.err
    assert "refuse this campaign until the problems marked (blocks sending)" in created.err
    assert "Public URL" not in created.err  # https: nothing to say
    refused = cli("campaign", "send", campaign_id, "--yes")
    assert refused.code == 2 and "Subject: 81 characters (max 78)" in refused.err
    refused = cli("campaign", "schedule", campaign_id, "--at", "2030-01-08 09:00")
    assert refused.code == 2 and "fails the pre-send checklist" in refused.err

    # A public URL that is not https, and a template without an unsubscribe link.
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "http://news.mindstream.example")
    templates = workdir / "templates"
    shutil.copytree(REPO / "templates", templates)
    layout = (templates / "layout.mjml").read_text()
    start = layout.index('<a href="{{ email.unsubscribe_url }}"')
    end = layout.index("</a>", start) + len("</a>")
    (templates / "layout.mjml").write_text(layout[:start] + "Reply to leave" + layout[end:])
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(templates))
    created = cli("campaign", "create", "--article", SEED_TEXT, "--segment", "everyone")
    assert created.code == 0, created.err
    assert (
        "Warning: Public URL: NEWSLETTER_PUBLIC_URL is http://news.mindstream.example, not "
        "https: unsubscribe links must be https before sending (blocks sending)"
    ) in created.err
    assert "Warning: Unsubscribe link: no unsubscribe link in the HTML (blocks sending)" in (
        created.err
    )
    assert "Subject" not in created.err

    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(REPO / "templates"))
    local = cli("campaign", "create", "--article", SEED_TEXT, "--segment", "everyone")
    assert "Warning: Public URL: http://127.0.0.1:8000 is http on localhost" in local.err
    assert "(blocks sending)" not in local.err  # a warning only: previews are fine


def test_send_on_a_scheduled_campaign_says_it_waits_then_sends(cli, workdir, db_url):  # noqa: F811
    assert cli("lists", "create", "news").code == 0
    assert cli("subscribers", "add", "ann@example.org", "--list", "news",
               "--consent", CONSENT).code == 0  # fmt: skip
    campaign_id = _create(cli, "--list", "news")
    soon = datetime.now(UTC) + timedelta(seconds=3)
    scheduled = cli("campaign", "schedule", campaign_id, "--at", f"{soon:%Y-%m-%d %H:%M:%S}",
                    "--tz", "UTC")  # fmt: skip
    assert scheduled.code == 0, scheduled.err
    sent = cli("campaign", "send", campaign_id, "--yes")
    assert sent.code == 0, sent.out + sent.err
    assert f"Campaign {campaign_id} is scheduled for {soon:%Y-%m-%d %H:%M} UTC: this command " \
           "waits until then and sends it." in sent.out  # fmt: skip
    row = _row(db_url, campaign_id)
    assert row.status == "sent" and row.started_at >= soon.replace(microsecond=0)
