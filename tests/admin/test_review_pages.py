"""Batches held for review on the campaign's page (#15 item 3, over #10's services/review.py):
admins see the evidence and accept or resend (resend only after a page spelling out the
duplicate risk); marketers and staff get 403; every decision is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from newsletter.domain.campaigns import CampaignStatus
from newsletter.services import recovery
from newsletter.services.planning import plan
from newsletter.storage import audit_log, batch_store, campaign_store
from newsletter.storage.sending_tables import send_batches
from tests.admin.pages_support import add_people, db_url, make_site, new_campaign  # noqa: F401
from tests.admin.support import csrf_of


def _held(site) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """A sending campaign whose first two batches are held: claimed, request noted, lease
    expired with no evidence, judged under the `hold` policy."""
    add_people(site.db, site.settings, 30)
    campaign = new_campaign(site.db, site.settings)
    now = datetime.now(UTC)
    with site.db.write() as conn:
        for status in (CampaignStatus.SCHEDULED, CampaignStatus.PLANNING):
            assert campaign_store.transition(conn, campaign, status)
    plan(site.db, site.settings.audiences_dir, campaign, now=now)
    with site.db.read() as conn:
        ids = list(
            conn.scalars(
                select(send_batches.c.id)
                .where(send_batches.c.campaign_id == campaign)
                .order_by(send_batches.c.seq)
            )
        )
    lease = timedelta(seconds=5)
    with site.db.write() as conn:
        for batch_id in ids[:2]:
            batch = batch_store.claim(conn, batch_id, worker="w-dead", now=now, lease=lease)
            assert batch_store.mark_requested(conn, batch, worker="w-dead", now=now, lease=lease)
    later = now + timedelta(seconds=20)
    assert recovery.reap_expired(site.db, now=later) == 2
    judged = recovery.resolve_unknown(
        site.db, now=later, grace=timedelta(seconds=1), lease=lease, request=timedelta(seconds=1)
    )
    assert judged["needs_review"] == 2
    return campaign, ids[:2]


def _statuses(site, ids: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    with site.db.read() as conn:
        return list(
            conn.scalars(
                select(send_batches.c.status)
                .where(send_batches.c.id.in_(ids))
                .order_by(send_batches.c.id)
            )
        )


def test_admins_see_the_evidence_and_resolve_held_batches(make_client, clock):
    site = make_site(make_client, clock, unknown_policy="hold", batch_size=10)
    campaign, (first, second) = _held(site)
    admin = site.person("admin")
    progress = admin.get(f"/admin/campaigns/{campaign}/progress").text
    assert f'href="/admin/campaigns/{campaign}/review" id="review-link"' in progress
    page = admin.get(f"/admin/campaigns/{campaign}/review")
    assert page.status_code == 200
    assert f'id="batch-{first}"' in page.text and f'id="batch-{second}"' in page.text
    assert "lease expired after the request may have been sent" in page.text
    assert "w-dead" in page.text and "none received" in page.text
    token = csrf_of(page.text)

    accepted = admin.post(f"/admin/campaigns/{campaign}/review",
                          data={"csrf_token": token, "decision": "accept", "batches": str(first)},
                          follow_redirects=False)  # fmt: skip
    assert accepted.status_code == 303
    assert _statuses(site, [first, second]) == ["accepted", "needs_review"]

    form = {"csrf_token": token, "decision": "resend", "batches": str(second)}
    asked = admin.post(f"/admin/campaigns/{campaign}/review", data=form)
    assert asked.status_code == 200
    assert 'id="confirm-resend"' in asked.text and "gets a second" in asked.text
    assert _statuses(site, [second]) == ["needs_review"]  # asking changes nothing

    resent = admin.post(f"/admin/campaigns/{campaign}/review",
                        data={"csrf_token": token, "decision": "resend", "batches": str(second),
                              "confirm": "yes"}, follow_redirects=False)  # fmt: skip
    assert resent.status_code == 303
    assert _statuses(site, [second]) == ["pending"]
    with site.db.read() as conn:
        actions = [r.action for r in audit_log.recent(conn, 20)]
    assert "campaign-review-accept" in actions and "campaign-review-resend" in actions
    empty = admin.get(f"/admin/campaigns/{campaign}/review").text
    assert 'id="nothing-held"' in empty


def test_bad_requests_are_refused_and_change_nothing(make_client, clock):
    site = make_site(make_client, clock, unknown_policy="hold", batch_size=10)
    campaign, held = _held(site)
    admin = site.person("admin")
    token = csrf_of(admin.get(f"/admin/campaigns/{campaign}/review").text)
    url = f"/admin/campaigns/{campaign}/review"
    for form in (
        {"decision": "accept", "batches": "1; DROP TABLE send_batches"},
        {"decision": "accept", "batches": ""},
        {"decision": "accept", "batches": "999999"},
        {"decision": "explode", "batches": str(held[0])},
    ):
        refused = admin.post(url, data={"csrf_token": token, **form})
        assert refused.status_code == 400, form
        assert 'class="message error"' in refused.text
    no_token = admin.post(url, data={"decision": "accept", "batches": str(held[0])})
    assert no_token.status_code == 403
    assert _statuses(site, held) == ["needs_review", "needs_review"]


def test_only_admins_may_review(make_client, clock):
    site = make_site(make_client, clock, unknown_policy="hold", batch_size=10)
    campaign, held = _held(site)
    for role in ("marketer", "staff"):
        client = site.person(role)
        assert client.get(f"/admin/campaigns/{campaign}/review").status_code == 403
        progress = client.get(f"/admin/campaigns/{campaign}/progress").text
        assert "review-link" not in progress and "an admin reviews them" in progress
    assert _statuses(site, held) == ["needs_review", "needs_review"]
