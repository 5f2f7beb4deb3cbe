"""The stats page (#15 item 6): the figures of `newsletter campaign stats` (the same
service), deliveries and clicks over time and clicks per link as inline SVG with a table of
the same numbers, consultation links highlighted, machine clicks apart; readable without
JavaScript, escaped, for every role that may see campaigns."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.engagement.stats import campaign_stats
from newsletter.services.runner import drive
from newsletter.web.admin.charts import Bar, bar_chart, timeline_chart
from tests.admin.pages_support import HOSTILE, add_people, approve, db_url, make_site, new_campaign  # noqa: F401
from tests.emulator_fixture import emulator  # noqa: F401
from tests.sending.support import context

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def _sent_campaign(site, sendgrid, people: int = 6) -> int:  # type: ignore[no-untyped-def]
    add_people(site.db, site.settings, people)
    campaign = new_campaign(site.db, site.settings)
    approve(site.db, site.settings, campaign)
    from newsletter.services.campaign_schedule import start_now

    start_now(site.db, site.settings, campaign, now=datetime.now(UTC))
    ctx = context(site.db, site.settings, sendgrid.base_url)
    pool = ThreadPoolDispatcher(ctx, threads=2, worker_id="stats-test")
    try:
        assert drive(ctx, pool, campaign, poll_s=0.02) == "sent"
    finally:
        pool.close()
    return campaign


def test_stats_page_shows_the_services_figures_and_clicks_apart(make_client, clock, emulator):  # noqa: F811
    clock.now = datetime.now(UTC)
    site = make_site(make_client, clock, batch_size=10)
    campaign = _sent_campaign(site, emulator)
    message = emulator.messages_to("user00000@patients.example")[0]
    html = message["html"]
    hrefs = sorted(set(re.findall(r'href="(https?://[^"]+/r/L[1-9][^"]*)"', html)))  # not L0
    assert hrefs, "the email has tracked links"
    path = "/" + hrefs[0].split("/", 3)[3]
    clock.advance(minutes=10)  # a person reads it later; a click within seconds is a machine
    site.client.get(path, headers={"User-Agent": BROWSER_UA}, follow_redirects=False)
    site.client.get(path, headers={"User-Agent": "Barracuda Sentinel (EE)"}, follow_redirects=False)
    assert site.app.state.clicks.flush()

    expected = campaign_stats(site.db, campaign, open_tracking=site.settings.open_tracking)
    staff = site.person("staff")  # every role that may see campaigns sees the stats
    page = staff.get(f"/admin/campaigns/{campaign}/stats")
    assert page.status_code == 200
    assert f'id="fig-recipients">{expected["recipients"]:,}<' in page.text
    assert f'id="fig-accepted">{expected["accepted"]:,}<' in page.text
    assert expected["accepted"] == 6
    assert f'id="fig-clicked">{expected["human_clicks"]:,}<' in page.text
    assert expected["human_clicks"] == 1 and expected["machine_clicks"] == 1, expected
    assert "<svg" in page.text and 'id="links-table"' in page.text
    assert 'class="consultation"' in page.text  # the seed's booking link is highlighted
    assert "<script" not in page.text.split("</head>")[1]  # no script needed in the page
    machines = page.text.split('id="machines"')[1]
    assert f"{expected['machine_clicks']:,} click request" in machines


def test_charts_escape_labels_and_scale():
    svg = bar_chart([Bar(HOSTILE, 3, highlight=True), Bar("Read more", 10)], title="Links")
    assert HOSTILE not in svg and "&lt;script&gt;" in svg
    assert svg.count('class="bar consultation"') == 1
    widths = [
        float(w)
        for w in re.findall(r'<rect class="bar[^"]*" x="[^"]+" y="[^"]+" width="([^"]+)"', svg)
    ]
    assert widths[1] > widths[0] > 0  # 10 is drawn longer than 3
    timeline = timeline_chart(
        [{"period": "2026-12-01T09:00Z", "delivered": 40, "human_clicks": 5}],
        ("delivered", "human_clicks"),
        title="Over time",
    )
    assert timeline.count('<rect class="bar') == 2 and "40 delivered" in timeline


def test_stats_of_a_draft_say_nothing_yet_and_unknown_is_404(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings, subject=HOSTILE)
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}/stats")
    assert page.status_code == 200 and "Nothing yet" in page.text
    assert HOSTILE not in page.text
    assert marketer.get("/admin/campaigns/999999/stats").status_code == 404
