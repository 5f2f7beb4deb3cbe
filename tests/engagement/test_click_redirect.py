"""The click redirect through the real ASGI stack on SQLite and PostgreSQL (S-01, P-06):
only ever a 302 to the stored URL; everything else the branded 404; HEAD answered, never
counted; scanners apart from people; human clicks in `subscriber_events`."""

from __future__ import annotations

import random
import string

from sqlalchemy import func, select

from newsletter.storage.engagement_tables import clicks
from newsletter.storage.tables import subscriber_events
from newsletter.tokens import new_random_id, sign
from tests.engagement.conftest import SECRET, add_recipients, new_sent_campaign


def rows(db, table) -> list:
    with db.read() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


def count(db, table) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def assert_not_found(response) -> None:
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "Link not found" in response.text


def test_a_click_redirects_to_the_stored_url_only(tracked):
    key = tracked.key_of("consultation")
    delivery = tracked.deliveries[0]
    response = tracked.click(delivery, key, at=600)
    assert response.status_code == 302
    assert response.headers["location"] == tracked.links[key].url
    assert response.headers["location"].startswith(
        "https://mindstream.example/book-a-consultation?"
    )
    assert "utm_content=" + key in response.headers["location"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    location = response.headers["location"]
    token = tracked.token(delivery)
    assert token not in location and token[1:23] not in location  # P-06
    assert "@" not in location and "r0000" not in location
    assert f"={delivery}" not in location and f"/{delivery}" not in location
    # The incoming query string is never forwarded.
    forwarded = tracked.client.get(
        f"/r/{key}/{token}?url=https://evil.example&utm_source=x",
        headers={"user-agent": "x"},
        follow_redirects=False,
    )
    assert forwarded.headers["location"] == tracked.links[key].url


def test_hostile_links_get_the_404_page_never_a_redirect(tracked):  # S-01
    key = tracked.key_of("consultation")
    token = tracked.token(tracked.deliveries[0])
    other_campaign = new_sent_campaign(tracked.db, tracked.app.state.settings, key="other-2026")
    [foreign_delivery] = add_recipients(tracked.db, other_campaign, 1, prefix="foreign")
    foreign_key = f"L{len(tracked.links) + 5}"
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    cases = [
        f"/r/{key}/{flipped}",  # tampered
        f"/r/{key}/{token[:-4]}",  # truncated
        f"/r/{key}/{token[:30]}",
        f"/r/{key}/{sign('click', new_random_id(), key=SECRET)}",  # valid MAC, not ours
        f"/r/{key}/{sign('click', tracked.token(1)[1:-16], key='another-key-' + 'x' * 30)}",
        f"/r/{key}/{tracked.token(tracked.deliveries[0], 'unsubscribe')}",  # wrong purpose
        f"/r/{foreign_key}/{token}",  # no such link key in the token's campaign
        f"/r/L99/{tracked.token(foreign_delivery)}",
        f"/r/{key}/{token}/extra",
        f"/r//evil.example/{token}",
        "/r///evil.example",
        f"/r/javascript:alert(1)/{token}",
        f"/r/{key}/javascript:alert(1)",
        f"/r/%2F%2Fevil.example/{token}",
        f"/r/{key}/%2F%2Fevil.example",
        f"/r/{key}/{token}%2F%2Fevil",
        "/r/" + "L1/" * 2000 + token,  # over-long
        f"/r/{key}/" + "a" * 5000,
        f"/r/l1/{token}",
        f"/r/{key}",
        "/r/",
    ]
    for path in cases:
        assert_not_found(tracked.client.get(path, follow_redirects=False))
    # The foreign campaign's own link does redirect, to its own stored URL.
    response = tracked.client.get(
        f"/r/L1/{tracked.token(foreign_delivery)}", follow_redirects=False
    )
    assert response.status_code == 302


def test_fuzzed_paths_never_redirect_anywhere_else(tracked):  # S-01 (fuzz)
    stored = {link.url for link in tracked.links.values()}
    token = tracked.token(tracked.deliveries[1])
    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits + "-_%/.:@?#"
    redirects = 0
    for _ in range(400):
        chars = list(token)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        key = rng.choice(["L1", "L2", "L0", "L9", "L" + rng.choice(alphabet)])
        response = tracked.client.get(f"/r/{key}/{''.join(chars)}", follow_redirects=False)
        assert response.status_code in (302, 404)
        if response.status_code == 302:
            redirects += 1
            assert response.headers["location"] in stored
    assert redirects < 20  # mutations almost never leave a valid MAC


def test_head_is_answered_and_never_counted(tracked):
    key = tracked.key_of("consultation")
    response = tracked.click(tracked.deliveries[0], key, at=900, method="HEAD")
    assert response.status_code == 302
    assert response.headers["location"] == tracked.links[key].url
    stats = tracked.stats()
    assert (stats["human_clicks"], stats["machine_clicks"]) == (0, 0)
    assert count(tracked.db, clicks) == 0


def test_a_scanner_burst_is_a_machine_and_a_person_ten_minutes_later_counts(tracked):
    keys = [k for k, link in tracked.links.items() if link.kind not in ("honeypot",)]
    scanned, person = tracked.deliveries[0], tracked.deliveries[1]
    for n, key in enumerate(keys):  # a gateway follows every link within 2 s of delivery
        assert tracked.click(scanned, key, at=2.2 + n * 1.5 / len(keys)).status_code == 302
    consultation = tracked.key_of("consultation")
    assert tracked.click(person, consultation, at=600).status_code == 302
    stats = tracked.stats()
    assert stats["machine_clicks"] == len(keys)
    assert stats["human_clicks"] == 1
    assert stats["consultation_clicks"] == 1
    link = next(x for x in stats["links"] if x["key"] == consultation)
    assert (link["human_clicks"], link["machine_clicks"]) == (1, 1)
    with tracked.db.read() as conn:
        events = conn.execute(select(subscriber_events.c.event, subscriber_events.c.link_kind))
        assert [tuple(e) for e in events] == [("click", "consultation")]
    stored = rows(tracked.db, clicks)
    assert {r.reason for r in stored if r.delivery_id == scanned} <= {"too_soon", "burst"}
    human = next(r for r in stored if r.delivery_id == person)
    assert (human.machine, human.ua_family, human.ip_prefix) == (False, "Chrome", None)


def test_a_burst_after_the_window_turns_earlier_clicks_into_a_machine(tracked):
    delivery = tracked.deliveries[2]
    article = tracked.key_of("article")
    tracked.click(delivery, article, at=1000)
    assert tracked.stats()["human_clicks"] == 1
    # The seed email has two links a person sees: both within seconds is a burst.
    assert sorted(k for k, link in tracked.links.items() if link.kind != "honeypot") == ["L1", "L2"]
    tracked.click(delivery, tracked.key_of("consultation"), at=1004)
    stats = tracked.stats()
    assert (stats["human_clicks"], stats["machine_clicks"]) == (0, 2)
    assert count(tracked.db, subscriber_events) == 0  # the event was taken back


def test_the_honeypot_marks_a_click_recorded_before_it(tracked):
    delivery = tracked.deliveries[3]
    tracked.click(delivery, tracked.key_of("consultation"), at=500)
    assert tracked.stats()["consultation_clicks"] == 1
    response = tracked.click(delivery, "L0", at=520)
    assert response.status_code == 302  # it leads somewhere ordinary: the clinic's website
    stats = tracked.stats()
    assert (stats["human_clicks"], stats["consultation_clicks"], stats["machine_clicks"]) == (
        0,
        0,
        2,
    )
    assert "L0" not in [x["key"] for x in stats["links"]]


def test_request_signals_make_a_machine(tracked):
    key = tracked.key_of("article")
    tracked.click(tracked.deliveries[0], key, at=700, ua="python-requests/2.31")
    tracked.click(tracked.deliveries[1], key, at=700, **{"sec-purpose": "prefetch"})
    tracked.click(tracked.deliveries[2], key, at=700, ua="")
    stats = tracked.stats()
    assert (stats["human_clicks"], stats["machine_clicks"]) == (0, 3)
    assert sorted(r.reason for r in rows(tracked.db, clicks)) == [
        "no_user_agent",
        "not_a_browser",
        "prefetch",
    ]


def test_test_send_links_redirect_and_count_apart(tracked):
    key = tracked.key_of("consultation")
    response = tracked.client.get(f"/r/{key}/{tracked.test_token()}", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == tracked.links[key].url
    stats = tracked.stats()
    assert (stats["test_clicks"], stats["human_clicks"], stats["machine_clicks"]) == (1, 0, 0)
    assert next(x for x in stats["links"] if x["key"] == key)["test_clicks"] == 1
    assert count(tracked.db, clicks) == 0  # nobody's click


def test_open_pixel_counts_people_and_proxies_apart(tracked):
    token = tracked.token(tracked.deliveries[0])
    tracked.clock.at(3600)
    response = tracked.client.get(f"/o/{token}", headers={"user-agent": "Mozilla/5.0"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == "no-store"
    tracked.client.get(
        f"/o/{tracked.token(tracked.deliveries[1])}",
        headers={
            "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac "
            "OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
        },
    )
    tracked.client.head(f"/o/{tracked.token(tracked.deliveries[2])}")
    stats = tracked.stats()
    assert (stats["opens"], stats["machine_opens"]) == (1, 1)  # Apple MPP's bare UA: machine
    assert tracked.client.get("/o/nonsense").status_code == 404


def test_one_link_hammered_is_a_flood_and_stays_cheap(tracked):
    delivery, key = tracked.deliveries[4], tracked.key_of("article")
    for n in range(60):
        assert tracked.click(delivery, key, at=1000 + n * 20).status_code == 302
    stats = tracked.stats()  # the first 50 are one person's (same link, no burst), then flood
    assert (stats["human_clicks"], stats["human_click_requests"], stats["machine_clicks"]) == (
        1,
        50,
        10,
    )
    assert count(tracked.db, clicks) == 60
    assert sum(r.reason == "flood" for r in rows(tracked.db, clicks)) == 10


def test_a_large_batch_is_recorded_in_one_transaction(tracked):
    """Above 200 rows a batch goes through `bulk_insert`'s COPY path on PostgreSQL."""
    from datetime import timedelta

    from newsletter.engagement.recorder import Seen, record
    from tests.engagement.conftest import CHROME, START

    many = add_recipients(tracked.db, tracked.campaign_id, 300, prefix="bulk")
    record(tracked.db, [
        Seen(START + timedelta(minutes=30, seconds=n), tracked.campaign_id, d, "L1",
             "consultation", CHROME, False, "198.51.100.7")
        for n, d in enumerate(many)
    ])  # fmt: skip
    stats = tracked.stats()
    assert (stats["human_clicks"], stats["consultation_clicks"]) == (300, 300)
    assert count(tracked.db, clicks) == 300
    assert count(tracked.db, subscriber_events) == 300
    assert {r.ip_prefix for r in rows(tracked.db, clicks)} == {"198.51.100.0/24"}


def test_human_clicks_reach_segment_rules_and_machine_clicks_do_not(tracked):
    from datetime import timedelta

    from newsletter.audiences.segments import Engaged, Segment
    from newsletter.services.segments import count_segment
    from tests.engagement.conftest import START

    tracked.click(tracked.deliveries[0], tracked.key_of("consultation"), at=900)  # a person
    tracked.click(tracked.deliveries[1], tracked.key_of("consultation"), at=5)  # a scanner
    tracked.stats()
    later = START + timedelta(days=1)
    consultation = Segment("booked-interest", Engaged("clicked_consultation", 30))
    assert count_segment(tracked.db, consultation, now=later) == 1
    assert count_segment(tracked.db, Segment("any", Engaged("clicked", 30)), now=later) == 1
    assert count_segment(tracked.db, Segment("quiet", Engaged("clicked", None)), now=later) == 4
