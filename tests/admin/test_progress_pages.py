"""Live progress (#15 item 5): the fragment HTMX polls every 2 s while a campaign can change
(sent / total, rate, retries, needs review) and stops polling once it has ended, read from
the counters; pause, resume, and cancel behind a confirmation; staff sees the progress but
no control, and gets 403 on the control routes."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.domain.campaigns import CampaignStatus
from newsletter.services.runner import drive
from newsletter.storage import audit_log, campaign_store
from tests.admin.pages_support import add_people, approve, db_url, make_site, new_campaign  # noqa: F401
from tests.admin.support import csrf_of
from tests.emulator_fixture import emulator  # noqa: F401
from tests.sending.support import context


def _send(site, client, campaign: int) -> None:  # type: ignore[no-untyped-def]
    token = csrf_of(client.get(f"/admin/campaigns/{campaign}").text)
    sent = client.post(f"/admin/campaigns/{campaign}/send", data={"csrf_token": token},
                       follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303, sent.text


def test_progress_polls_while_sending_and_reaches_100(make_client, clock, emulator):  # noqa: F811
    clock.now = datetime.now(UTC)  # the engine runs on the real clock
    site = make_site(make_client, clock, batch_size=10)
    add_people(site.db, site.settings, 25)
    campaign = new_campaign(site.db, site.settings)
    approve(site.db, site.settings, campaign)
    marketer = site.person("marketer")
    _send(site, marketer, campaign)
    before = marketer.get(f"/admin/campaigns/{campaign}/progress", headers={"HX-Request": "true"})
    assert before.status_code == 200
    assert 'hx-trigger="every 2s"' in before.text and 'data-status="scheduled"' in before.text
    assert "hx-refresh" not in before.headers

    ctx = context(site.db, site.settings, emulator.base_url)
    pool = ThreadPoolDispatcher(ctx, threads=2, worker_id="admin-test")
    try:
        assert drive(ctx, pool, campaign, poll_s=0.02) == "sent"
    finally:
        pool.close()
    after = marketer.get(f"/admin/campaigns/{campaign}/progress").text
    assert 'data-percent="100"' in after and 'data-status="sent"' in after
    assert 'id="progress-sent">25<' in after and 'id="progress-total">25<' in after
    assert "hx-trigger" not in after  # an ended campaign is not polled
    polled = marketer.get(f"/admin/campaigns/{campaign}/progress?shown=scheduled",
                          headers={"HX-Request": "true"})  # fmt: skip
    assert polled.headers["HX-Refresh"] == "true"  # the page reloads once to show "sent"
    same = marketer.get(f"/admin/campaigns/{campaign}/progress?shown=sent",
                        headers={"HX-Request": "true"})  # fmt: skip
    assert "hx-refresh" not in same.headers
    assert "per minute" in after and 'id="progress-review">0 recipients' in after
    page = marketer.get(f"/admin/campaigns/{campaign}").text
    assert 'id="progress"' in page and "pause-button" not in page


def _sending(site) -> int:  # type: ignore[no-untyped-def]
    campaign = new_campaign(site.db, site.settings)
    with site.db.write() as conn:
        for status in (CampaignStatus.SCHEDULED, CampaignStatus.PLANNING, CampaignStatus.SENDING):
            assert campaign_store.transition(conn, campaign, status)
    return campaign


def test_pause_resume_and_cancel_with_confirmation(make_client, clock):
    site = make_site(make_client, clock)
    campaign = _sending(site)
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}").text
    assert "pause-button" in page and "cancel-button" in page
    token = csrf_of(page)

    def status() -> str:
        with site.db.read() as conn:
            return str(campaign_store.get_campaign(conn, campaign).status)

    marketer.post(f"/admin/campaigns/{campaign}/pause", data={"csrf_token": token})
    assert status() == "paused"
    paused = marketer.get(f"/admin/campaigns/{campaign}/progress").text
    assert "resume-button" in paused and "paused by marketer@clinic.example" in paused
    marketer.post(f"/admin/campaigns/{campaign}/resume", data={"csrf_token": token})
    assert status() == "sending"
    again = marketer.post(f"/admin/campaigns/{campaign}/resume", data={"csrf_token": token})
    assert again.status_code == 400 and "cannot become sending" in again.text

    asked = marketer.post(f"/admin/campaigns/{campaign}/cancel", data={"csrf_token": token})
    assert asked.status_code == 200 and "confirm-cancel-button" in asked.text
    assert status() == "sending"  # nothing happens before the confirmation
    yes = {"csrf_token": token, "confirm": "yes"}
    done = marketer.post(f"/admin/campaigns/{campaign}/cancel", data=yes, follow_redirects=False)
    assert done.status_code == 303 and status() == "cancelled"
    with site.db.read() as conn:
        actions = [e.action for e in audit_log.recent(conn)]
    for action in ("campaign-pause", "campaign-resume", "campaign-cancel"):
        assert action in actions


def test_staff_sees_progress_but_no_controls_and_gets_403(make_client, clock):
    site = make_site(make_client, clock)
    campaign = _sending(site)
    staff = site.person("staff")
    assert staff.get(f"/admin/campaigns/{campaign}/progress").status_code == 200
    page = staff.get(f"/admin/campaigns/{campaign}").text
    for marker in ("pause-button", "cancel-button", "resume-button", "send-button"):
        assert marker not in page
    token = csrf_of(staff.get("/admin/account").text)
    for control in ("pause", "resume", "cancel"):
        refused = staff.post(f"/admin/campaigns/{campaign}/{control}",
                             data={"csrf_token": token, "confirm": "yes"})  # fmt: skip
        assert refused.status_code == 403, control
    with site.db.read() as conn:
        assert campaign_store.get_campaign(conn, campaign).status == "sending"
    forged = site.person("marketer").post(f"/admin/campaigns/{campaign}/pause", data={})
    assert forged.status_code == 403  # no CSRF token
