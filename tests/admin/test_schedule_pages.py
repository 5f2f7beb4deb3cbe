"""The schedule page (#15 item 5): a wall-clock time in an IANA zone shown in that zone and
in UTC before it is confirmed, the late-send window, reschedule and unschedule, the approval
rule, and only roles that may send (403 for staff, checked server-side)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from newsletter.storage.sending_tables import campaigns
from tests.admin.pages_support import HOSTILE, approve, db_url, make_site, new_campaign  # noqa: F401
from tests.admin.support import csrf_of


def _campaign_row(db, campaign_id):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()


def test_schedule_in_new_york_shows_utc_then_confirms(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    approve(site.db, site.settings, campaign)
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}/schedule")
    assert page.status_code == 200 and 'id="zone"' in page.text
    assert 'id="not-approved"' not in page.text
    form = {"at": "2026-12-08T09:00", "zone": "America/New_York", "late_hours": "2",
            "csrf_token": csrf_of(page.text)}  # fmt: skip
    shown = marketer.post(f"/admin/campaigns/{campaign}/schedule", data=form)
    assert shown.status_code == 200, shown.text
    assert "2026-12-08 14:00 UTC" in shown.text  # 09:00 EST = 14:00 UTC
    assert "09:00 EST" in shown.text
    assert _campaign_row(site.db, campaign).status == "draft"  # nothing until confirmed

    done = marketer.post(f"/admin/campaigns/{campaign}/schedule", data={**form, "confirm": "yes"},
                         follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    row = _campaign_row(site.db, campaign)
    assert row.status == "scheduled" and row.time_zone == "America/New_York"
    assert row.scheduled_at.astimezone(UTC) == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert row.late_send_window_s == 7200
    detail = marketer.get(f"/admin/campaigns/{campaign}").text
    assert "2026-12-08 09:00 EST (America/New_York)" in detail and "14:00 UTC" in detail

    moved = {**form, "at": "2026-12-09T10:30", "confirm": "yes"}
    marketer.post(f"/admin/campaigns/{campaign}/schedule", data=moved)
    assert _campaign_row(site.db, campaign).scheduled_at.astimezone(UTC).hour == 15
    token = csrf_of(marketer.get(f"/admin/campaigns/{campaign}/schedule").text)
    back = marketer.post(f"/admin/campaigns/{campaign}/unschedule", data={"csrf_token": token},
                         follow_redirects=False)  # fmt: skip
    assert back.status_code == 303
    row = _campaign_row(site.db, campaign)
    assert row.status == "draft" and row.scheduled_at is None


def test_a_skipped_local_time_is_explained(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    approve(site.db, site.settings, campaign)
    marketer = site.person("marketer")
    token = csrf_of(marketer.get(f"/admin/campaigns/{campaign}/schedule").text)
    shown = marketer.post(f"/admin/campaigns/{campaign}/schedule", data={
        "at": "2027-03-14T02:30", "zone": "America/New_York", "late_hours": "1",
        "csrf_token": token})  # fmt: skip
    assert "does not exist in America/New_York" in shown.text
    assert "07:00 UTC" in shown.text


def test_bad_values_are_refused_clearly_and_escaped(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    approve(site.db, site.settings, campaign)
    marketer = site.person("marketer")
    token = csrf_of(marketer.get(f"/admin/campaigns/{campaign}/schedule").text)
    cases = [
        ({"at": HOSTILE, "zone": "UTC", "late_hours": "1"}, "is not a date and time"),
        ({"at": "2026-12-08T09:00", "zone": HOSTILE, "late_hours": "1"}, "is not a time zone"),
        ({"at": "2026-12-08T09:00", "zone": "../etc/passwd", "late_hours": "1"}, "time zone"),
        ({"at": "2026-12-08T09:00", "zone": "UTC", "late_hours": "500"}, "late-send window"),
        ({"at": "2020-01-01T09:00", "zone": "UTC", "late_hours": "1"}, "in the past"),
    ]
    for form, words in cases:
        refused = marketer.post(f"/admin/campaigns/{campaign}/schedule",
                                data={**form, "csrf_token": token, "confirm": "yes"})  # fmt: skip
        assert refused.status_code == 400, form
        assert words in refused.text, (form, refused.text[-2000:])
        assert HOSTILE not in refused.text
    assert _campaign_row(site.db, campaign).status == "draft"


def test_approval_is_required_and_staff_gets_403(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    site.person("admin")  # accounts exist: approval is enforced
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}/schedule").text
    assert 'id="not-approved"' in page
    token = csrf_of(page)
    form = {"at": "2026-12-08T09:00", "zone": "UTC", "late_hours": "1", "csrf_token": token}
    refused = marketer.post(f"/admin/campaigns/{campaign}/schedule", data=form)
    assert refused.status_code == 400 and "approv" in refused.text
    staff = site.person("staff")
    assert staff.get(f"/admin/campaigns/{campaign}/schedule").status_code == 403
    staff_token = csrf_of(staff.get("/admin/account").text)
    for path in ("schedule", "unschedule"):
        body = {**form, "csrf_token": staff_token, "confirm": "yes"}
        response = staff.post(f"/admin/campaigns/{campaign}/{path}", data=body)
        assert response.status_code == 403
    assert "schedule-link" not in staff.get(f"/admin/campaigns/{campaign}").text
    assert _campaign_row(site.db, campaign).status == "draft"
