"""The pure rules of engagement tracking, alone: machine or person, what a delivery's hits
count for, client addresses, attribution, small counts, bounce rules, tokens, Calendly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from newsletter import tokens
from newsletter.delivery_ids import DeliveryIds
from newsletter.engagement import bots, calendly
from newsletter.engagement.attribution import (
    Booking,
    BookingRefused,
    Candidate,
    attribute,
    parse_booking,
)
from newsletter.engagement.bounce_rules import Streak, complaint_verdict
from newsletter.engagement.link_tokens import resolve
from newsletter.engagement.network import client_address, parse_networks, truncate_ip
from newsletter.engagement.preference_rules import parse_topic_labels
from newsletter.engagement.rounding import small_count
from newsletter.engagement.user_agents import agent

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
KEYS = {"a": "rules-secret-0123456789abcdefghijklmnopqrstuvwxyz"}


def click(seconds: float, key: str = "L1", kind: str = "article", reason=None) -> bots.Hit:
    return bots.Hit(T0 + timedelta(seconds=seconds), key, kind, reason)


# --- machine or person -------------------------------------------------------------------


def test_a_scanner_burst_at_delivery_is_a_machine_and_a_later_click_a_person():
    hits = [
        click(0.4, "L1", "consultation"),
        click(0.9, "L2"),
        click(1.5, "L3"),
        click(600, "L1", "consultation"),
    ]
    reasons = bots.classify(hits, delivered_at=T0, accepted_at=T0 - timedelta(seconds=3))
    assert reasons == ["burst", "burst", "burst", None]


def test_too_soon_uses_delivered_at_else_accepted_at():
    hit = [click(200)]
    assert bots.classify(hit, delivered_at=T0 + timedelta(seconds=100), accepted_at=T0) == [
        "too_soon"
    ]
    assert bots.classify(hit, delivered_at=None, accepted_at=T0) == [None]
    assert bots.classify([click(119)], delivered_at=None, accepted_at=T0) == ["too_soon"]
    assert bots.classify([click(121)], delivered_at=T0, accepted_at=None) == [None]


def test_two_links_within_seconds_are_not_yet_a_burst_three_are():
    two = [click(300, "L1"), click(303, "L2")]
    assert bots.classify(two, delivered_at=T0, accepted_at=None) == [None, None]
    three = [*two, click(309, "L3")]
    assert bots.classify(three, delivered_at=T0, accepted_at=None) == ["burst"] * 3
    spread = [click(300, "L1"), click(305, "L2"), click(316, "L3")]  # no 10 s window holds 3
    assert bots.burst_links(2) == 2 and bots.burst_links(1) == 2 and bots.burst_links(9) == 3
    assert bots.classify(spread, delivered_at=T0, accepted_at=None) == [None] * 3


def test_the_same_link_twice_is_no_burst():
    hits = [click(300, "L1"), click(300.5, "L1"), click(301, "L1")]
    assert bots.classify(hits, delivered_at=T0, accepted_at=None) == [None] * 3


def test_the_honeypot_marks_clicks_around_it_but_not_a_later_person():
    hits = [click(400, "L2"), click(430, "L0", "honeypot"), click(1000, "L1")]
    assert bots.classify(hits, delivered_at=T0, accepted_at=None) == ["honeypot", "honeypot", None]


def test_request_reasons_come_first():
    hits = [click(5, reason="prefetch")]
    assert bots.classify(hits, delivered_at=T0, accepted_at=None) == ["prefetch"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"purpose": "prefetch"}, True),
        ({"sec-purpose": "prefetch;prerender"}, True),
        ({"x-moz": "prefetch"}, True),
        ({"x-purpose": "preview"}, True),
        ({}, False),
        ({"purpose": "navigate"}, False),
    ],
)
def test_prefetch_headers(headers, expected):
    assert bots.prefetch_header(headers) is expected


def test_counts_are_unique_per_delivery_and_follow_reclassification():
    hits = [click(600, "L1", "consultation"), click(700, "L1", "consultation"), click(800, "L2")]
    counted = bots.counts(hits, [None, None, None])
    assert counted["", "human_clickers"] == 1
    assert counted["", "human_clicks"] == 3
    assert counted["", "consultation_clickers"] == 1
    assert counted["L1", "human_clickers"] == 1
    assert counted["L1", "human_clicks"] == 2
    assert counted["h:2026-12-01T09", "human_clicks"] == 3
    machine = bots.counts(hits, ["burst", "burst", "burst"])
    assert machine["", "human_clickers"] == 0
    assert machine["", "machine_clicks"] == 3
    opens = bots.counts(
        [bots.Hit(T0, None, None, None), bots.Hit(T0, None, None, "mail_proxy")],
        [None, "mail_proxy"],
    )
    assert (opens["", "human_openers"], opens["", "machine_opens"]) == (1, 1)


@pytest.mark.parametrize(
    ("user_agent", "machine"),
    [
        (CHROME, None),
        ("", "no_user_agent"),
        (None, "no_user_agent"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "bot_user_agent",
        ),
        ("python-requests/2.31", "not_a_browser"),
        ("Mozilla/5.0", "unknown_user_agent"),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
            "(via ggpht.com GoogleImageProxy)",
            "mail_proxy",
        ),
    ],
)
def test_user_agents_through_the_maintained_parser(user_agent, machine):
    assert agent(user_agent).machine == machine


def test_user_agent_family_only():
    assert agent(CHROME).family == "Chrome"


# --- addresses ---------------------------------------------------------------------------

TRUSTED = parse_networks("127.0.0.1, 10.0.0.0/8, ::1")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    assert client_address("127.0.0.1", "203.0.113.9", TRUSTED) == "203.0.113.9"
    assert client_address("198.51.100.7", "203.0.113.9", TRUSTED) == "198.51.100.7"
    # Read from the right: a client cannot slip an address in front of the real one.
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.5", TRUSTED) == "203.0.113.9"
    assert client_address("127.0.0.1", "not-an-ip", TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", None, TRUSTED) == "127.0.0.1"


def test_a_bad_network_setting_is_named():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("127.0.0.1, 10.0.0.300")


def test_addresses_are_truncated_to_networks():
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::/48"
    assert truncate_ip("testclient") is None
    assert truncate_ip(None) is None


# --- attribution -------------------------------------------------------------------------


def booking(**utm) -> Booking:
    return parse_booking({"booking_id": "b-1", "occurred_at": "2026-12-05T10:00:00Z", "utm": utm})


def test_forbidden_fields_are_refused_by_name():
    with pytest.raises(BookingRefused) as refused:
        parse_booking({"booking_id": "b", "occurred_at": "2026-12-05T10:00:00Z", "email": "x"})
    assert refused.value.field == "email"
    with pytest.raises(BookingRefused) as refused:
        parse_booking(
            {
                "booking_id": "b",
                "occurred_at": "2026-12-05T10:00:00Z",
                "utm": {"campaign": "c", "reason": "anxiety"},
            }
        )
    assert refused.value.field == "utm.reason"
    with pytest.raises(BookingRefused) as refused:
        parse_booking({"booking_id": "b", "occurred_at": "2026-12-05T10:00:00"})
    assert refused.value.field == "occurred_at"


def test_attribution_needs_the_campaign_the_link_and_the_window():
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    older = Candidate(1, start - timedelta(days=20), frozenset({"L1", "L2"}))
    latest = Candidate(2, start, frozenset({"L1"}))
    assert attribute(booking(campaign="k", content="L1"), [older, latest], window_days=14) == (
        2,
        "L1",
    )
    assert attribute(booking(campaign="k", content="L2"), [older, latest], window_days=14) == (
        None,
        None,
    )
    assert attribute(booking(campaign="k", content="L1"), [latest], window_days=3) == (None, None)
    assert attribute(booking(campaign="k"), [latest], window_days=14) == (None, None)
    not_started = Candidate(3, None, frozenset({"L1"}))
    assert attribute(booking(campaign="k", content="L1"), [not_started], window_days=14) == (
        None,
        None,
    )


def test_small_counts():
    assert [small_count(n) for n in (0, 1, 4, 5, 1234)] == ["0", "<5", "<5", "5", "1234"]


def test_topic_labels():
    assert parse_topic_labels("research-news=Research news; events = Events & talks") == [
        ("research-news", "Research news"),
        ("events", "Events & talks"),
    ]
    with pytest.raises(ValueError, match="'events'"):
        parse_topic_labels("research-news=Research; events")


# --- engagement rules --------------------------------------------------------------------


def test_soft_bounce_streak_needs_three_over_seven_days():
    streak = Streak(T0, T0, 1).add(T0 + timedelta(days=3))
    assert not streak.suppresses
    assert not streak.add(T0 + timedelta(days=6, hours=23)).suppresses
    assert streak.add(T0 + timedelta(days=7)).suppresses


@pytest.mark.parametrize(
    ("complaints", "delivered", "verdict"),
    [
        (3, 999, "ok"),
        (3, 1000, "pause"),
        (2, 1000, "warn"),
        (1, 1000, "warn"),
        (0, 1000, "ok"),
        (9, 4000, "warn"),
        (12, 4000, "pause"),
    ],
)
def test_complaint_guard(complaints, delivered, verdict):
    assert complaint_verdict(complaints, delivered) == verdict


# --- tokens ------------------------------------------------------------------------------


def test_one_token_scheme_for_deliveries_tests_and_previews():
    ids = DeliveryIds(KEYS)
    [link_id] = ids.link_ids([42])
    click_token = tokens.sign("click", link_id, key=KEYS["a"])
    test_token = tokens.sign("test", ids.test_id(7), key=KEYS["a"])
    preview_token = tokens.sign("preview", tokens.new_random_id(), key=KEYS["a"])
    assert resolve("click", click_token, KEYS) == resolve("click", click_token, KEYS)
    assert resolve("click", click_token, KEYS).kind == "delivery"
    assert resolve("click", click_token, KEYS).id == 42
    assert resolve("unsubscribe", click_token, KEYS) is None  # purpose-bound
    assert (
        resolve("unsubscribe", test_token, KEYS).kind,
        resolve("click", test_token, KEYS).id,
    ) == ("test", 7)
    assert resolve("preferences", preview_token, KEYS).kind == "preview"
    assert (
        resolve("click", click_token[:-1] + ("A" if click_token[-1] != "A" else "B"), KEYS) is None
    )
    other = {"a": "another-secret-0123456789abcdefghijklmnopqrstuv"}
    assert resolve("click", click_token, other) is None
    # A random id signed as `test` that is not a campaign id of ours decodes to nothing.
    assert (
        resolve("click", tokens.sign("test", tokens.new_random_id(), key=KEYS["a"]), KEYS) is None
    )


# --- Calendly ----------------------------------------------------------------------------


def test_calendly_signature_and_allow_list():
    body = json.dumps(
        {
            "event": "invitee.created",
            "created_at": "2026-12-05T10:00:01.000000Z",
            "payload": {
                "uri": "https://api.calendly.com/scheduled_events/E/invitees/I",
                "created_at": "2026-12-05T10:00:00.000000Z",
                "email": "ana@example.org",
                "name": "Ana",
                "questions_and_answers": [{"answer": "private"}],
                "tracking": {
                    "utm_campaign": "k",
                    "utm_source": "newsletter",
                    "utm_medium": "email",
                    "utm_content": "L1",
                    "utm_term": None,
                    "salesforce_uuid": None,
                },
            },
        }
    ).encode()
    now = 1_796_000_000
    header = f"t={now},v1={calendly.signature('ck', str(now), body)}"
    assert calendly.verify("ck", header, body, now=now + 60)
    assert not calendly.verify("ck", header, body, now=now + 181)  # stale
    assert not calendly.verify("other", header, body, now=now)
    assert not calendly.verify("ck", header, body + b" ", now=now)
    assert not calendly.verify("ck", None, body, now=now)
    found = calendly.booking_from(body)
    assert found.booking_id == "https://api.calendly.com/scheduled_events/E/invitees/I"
    assert dict(found.utm) == {
        "source": "newsletter",
        "medium": "email",
        "campaign": "k",
        "content": "L1",
    }
    assert "ana" not in repr(found).lower()
    assert calendly.booking_from(json.dumps({"event": "invitee.canceled"}).encode()) is None
