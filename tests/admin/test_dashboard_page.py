"""The dashboard at /admin (#15): recent campaigns with their key figures from the counters,
what is scheduled and what waits for approval; no query per view touches the big tables
(subscribers, deliveries, clicks, events), which is what keeps it fast at a million."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event

from newsletter.storage import counter_store
from tests.admin.pages_support import HOSTILE, approve, db_url, make_site, new_campaign  # noqa: F401

BIG_TABLES = ("subscribers", "deliveries", "clicks", "provider_events", "send_attempts")


def test_dashboard_shows_recent_campaigns_from_counters_without_big_scans(make_client, clock):
    site = make_site(make_client, clock)
    first = new_campaign(site.db, site.settings, subject=HOSTILE)
    second = new_campaign(site.db, site.settings, subject="December news")
    approve(site.db, site.settings, second)
    with site.db.write() as conn:
        counter_store.add_counts(conn, {(first, "", "delivered"): 1234,
                                        (first, "", "human_clickers"): 56,
                                        (first, "", "conversions"): 7})  # fmt: skip
    marketer = site.person("marketer")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement.lower())

    event.listen(site.db.engine, "before_cursor_execute", seen)
    try:
        page = marketer.get("/admin")
    finally:
        event.remove(site.db.engine, "before_cursor_execute", seen)
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert "December news" in page.text and "1,234" in page.text and ">7<" in page.text
    for statement in statements:
        for table in BIG_TABLES:
            assert f" {table}" not in statement and f'"{table}"' not in statement, statement
    assert 'aria-current="page">Dashboard' in page.text


def test_dashboard_lists_scheduled_and_waiting(make_client, clock):
    site = make_site(make_client, clock)
    waiting = new_campaign(site.db, site.settings, subject="Waiting one")
    from newsletter.accounts.roles import Role
    from newsletter.accounts.service import Actor
    from newsletter.domain.approval import Step
    from newsletter.services import approval, campaign_schedule

    marketer = site.person("marketer")
    approval.take_step(site.db, waiting, Step.SUBMIT,
                       Actor(None, "marketer@clinic.example", Role.MARKETER))  # fmt: skip
    scheduled = new_campaign(site.db, site.settings, subject="Next week")
    approve(site.db, site.settings, scheduled)
    campaign_schedule.schedule(site.db, site.settings, scheduled,
                               at=datetime(2026, 12, 8, 14, tzinfo=UTC),
                               time_zone_name="America/New_York", now=clock.now)  # fmt: skip
    page = marketer.get("/admin").text
    assert 'id="waiting-approval">1<' in page
    assert "Next week" in page and "2026-12-08 09:00 EST (America/New_York)" in page
    staff = site.person("staff")
    assert staff.get("/admin").status_code == 200
