"""The services behind the campaign pages on both databases: the subscriber search (a range
on the email index, exact prefixes only), the preview for a subscriber (preview tokens, the
checklist cached per content), the progress snapshot from counters, the dashboard from
counters, and the test-address and send-time parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter import tokens
from newsletter.config import load_settings
from newsletter.errors import ValidationError
from newsletter.services import campaign_actions, campaign_preview
from newsletter.services.campaign_progress import snapshot
from newsletter.services.dashboard import dashboard
from newsletter.storage import counter_store
from tests.admin.pages_support import new_campaign
from tests.audience_db import db, db_url  # noqa: F401
from tests.seed import REPO
from tests.sending.support import add_audience


@pytest.fixture
def settings(db_url):  # type: ignore[no-untyped-def]  # noqa: F811
    return load_settings(database_url=db_url, audiences_dir=REPO / "audiences")


def test_search_is_an_exact_prefix_in_address_order(db, settings):  # noqa: F811
    add_audience(db, settings, "a.example", 12)
    add_audience(db, settings, "b.example", 3)
    found = campaign_preview.search_subscribers(db, "USER0001")  # typed in capitals
    assert [r.email for r in found] == ["user00010@a.example", "user00011@a.example"]
    assert len(campaign_preview.search_subscribers(db, "user")) == 10  # capped
    assert campaign_preview.search_subscribers(db, "user00000@b.example")[0].email == (
        "user00000@b.example"
    )
    assert campaign_preview.search_subscribers(db, "%") == []  # no wildcard
    assert campaign_preview.search_subscribers(db, "  ") == []


def test_preview_for_a_subscriber_has_only_preview_tokens(db, settings):  # noqa: F811
    add_audience(db, settings, "a.example", 2, first_name="Kim")
    campaign = new_campaign(db, settings)
    [person] = campaign_preview.search_subscribers(db, "user00001@")
    shown = campaign_preview.preview_for(db, settings, campaign, person.id)
    assert shown.to == "user00001@a.example" and "Kim" in shown.email.text
    assert shown.article_ids and shown.subscriber_id == person.id
    token = shown.email.list_unsubscribe.rsplit("/", 1)[1]
    assert tokens.verify("preview", token, keys=settings.signing_keys) is not None
    again = campaign_preview.preview_for(db, settings, campaign, None)
    assert again.checks is shown.checks  # cached per stored content


def test_snapshot_and_dashboard_read_counters(db, settings):  # noqa: F811
    campaign = new_campaign(db, settings, subject="Counted")
    with db.write() as conn:
        counter_store.add_counts(conn, {(campaign, "", "status:accepted"): 40,
                                        (campaign, "", "status:failed"): 2,
                                        (campaign, "", "human_clickers"): 5})  # fmt: skip
        conn.exec_driver_sql(f"UPDATE campaigns SET to_send = 84 WHERE id = {campaign}")
    shown = snapshot(db, campaign, now=datetime.now(UTC))
    assert (shown.sent, shown.failed, shown.total, shown.percent) == (40, 2, 84, 50)
    board = dashboard(db)
    [line] = [c for c in board.recent if c.id == campaign]
    assert line.subject == "Counted" and line.f("human_clickers") == 5 and line.percent == 50


def test_test_addresses_and_send_times_are_checked():
    assert campaign_actions.parse_test_addresses("A@Example.org, a@example.org\nb@example.org") == [
        "a@example.org",
        "b@example.org",
    ]
    with pytest.raises(ValidationError, match="at most 10"):
        campaign_actions.parse_test_addresses(" ".join(f"s{i}@example.org" for i in range(11)))
    with pytest.raises(ValidationError, match="not an email address"):
        campaign_actions.parse_test_addresses("nobody")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    when = campaign_actions.send_time("2026-12-08T09:00", "America/New_York", now=now)
    assert when.utc == datetime(2026, 12, 8, 14, tzinfo=UTC) and when.zone == "America/New_York"
    with pytest.raises(ValidationError, match="time zone"):
        campaign_actions.send_time("2026-12-08T09:00", "Mars/Olympus", now=now)
    assert campaign_actions.late_window("1.5") == 5400
    with pytest.raises(ValidationError, match="late-send window"):
        campaign_actions.late_window("-1")
