"""Segment rules compiled to one SQL query, checked on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.segments import (
    All,
    Any_,
    AttributeCompare,
    Engaged,
    HasTag,
    HasTopic,
    InList,
    Not,
    Segment,
    SignedUpWithin,
    StatusIs,
    check_rule,
)
from newsletter.domain.subscribers import SuppressionReason
from newsletter.services.lists import create_list
from newsletter.services.segments import count_segment
from newsletter.services.subscribers import add_subscriber
from newsletter.services.suppressions import suppress_in
from newsletter.storage.audience_queries import subscriber_by_email
from newsletter.storage.segment_sql import id_window, ids_in_window, segment_condition, window_end
from newsletter.storage.tables import subscriber_events
from tests.audience_db import db, db_url  # noqa: F401

KEY = "k" * 32
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SPECS = {
    "city": AttributeSpec("city", "string", "City, for events"),
    "visits": AttributeSpec("visits", "number", "Events attended"),
    "member_since": AttributeSpec("member_since", "date", "Joined the community"),
    "prefers_digest": AttributeSpec("prefers_digest", "boolean", "Wants a digest"),
}
PEOPLE = {
    # email: (topics, tags, attributes, signed up days ago)
    "ann@example.com": (["research-news"], ["vip"], {"city": "Philadelphia", "visits": "3"}, 10),
    "bob@example.com": (["events"], [], {"city": "Boston", "member_since": "2020-05-01"}, 400),
    "cat@example.com": (["research-news", "events"], [], {"prefers_digest": "yes"}, 30),
    "dan@example.com": ([], ["digest-only"], {"visits": "1", "city": "New 50%_ York"}, 700),
}


@pytest.fixture
def people(db):  # noqa: F811
    create_list(db, "newsletter", now=NOW)
    for email, (topics, tags, attrs, days) in PEOPLE.items():
        add_subscriber(
            db, key=KEY, email=email, consent_text="I agree", staff_user="t",
            list_name="newsletter" if email != "dan@example.com" else None,
            topics=topics, tags=tags, attributes=attrs, specs=SPECS,
            now=NOW - timedelta(days=days),
        )  # fmt: skip
    with db.write() as conn:
        ids = {e: subscriber_by_email(conn, e).id for e in PEOPLE}
        conn.execute(
            subscriber_events.insert(),
            [
                {"subscriber_id": ids["ann@example.com"], "event": "open", "link_kind": None,
                 "occurred_at": NOW - timedelta(days=5)},
                {"subscriber_id": ids["bob@example.com"], "event": "click",
                 "link_kind": "consultation", "occurred_at": NOW - timedelta(days=20)},
                {"subscriber_id": ids["cat@example.com"], "event": "click",
                 "link_kind": "article", "occurred_at": NOW - timedelta(days=2)},
            ],
        )  # fmt: skip
    return db


def members(db, rule) -> set[str]:  # noqa: F811
    segment = Segment("t", check_rule(rule, SPECS))
    # The planner's own query (`services.planning.plan`), two ids per window.
    condition, ids, cursor = segment_condition(segment.rule, now=NOW), [], 0
    with db.read() as conn:
        while (end := conn.scalar(window_end(id_window(cursor, 2)))) is not None:
            ids += conn.scalars(ids_in_window(condition, id_window(cursor, 2)))
            cursor = end
    assert ids == sorted(ids)
    assert count_segment(db, segment, now=NOW) == len(ids)
    with db.read() as conn:
        from sqlalchemy import select

        from newsletter.storage.tables import subscribers

        rows = conn.execute(select(subscribers.c.id, subscribers.c.email)).all()
    by_id = {r.id: r.email.split("@")[0] for r in rows}
    return {by_id[i] for i in ids}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (None, {"ann", "bob", "cat", "dan"}),
        (HasTopic("research-news"), {"ann", "cat"}),
        (HasTag("vip"), {"ann"}),
        (InList("newsletter"), {"ann", "bob", "cat"}),
        (Not(HasTag("digest-only")), {"ann", "bob", "cat"}),
        (SignedUpWithin(365), {"ann", "cat"}),
        (AttributeCompare("city", "equals", "Boston"), {"bob"}),
        (AttributeCompare("city", "in", ["Boston", "Philadelphia"]), {"ann", "bob"}),
        (AttributeCompare("city", "contains", "PHILA"), {"ann"}),
        (AttributeCompare("city", "contains", "50%_"), {"dan"}),
        (AttributeCompare("city", "exists", False), {"cat"}),
        (AttributeCompare("visits", "gt", 2), {"ann"}),
        (AttributeCompare("visits", "lt", 2), {"dan"}),
        (AttributeCompare("member_since", "before", "2021-01-01"), {"bob"}),
        (AttributeCompare("member_since", "after", "2021-01-01"), set()),
        (AttributeCompare("prefers_digest", "equals", True), {"cat"}),
        (Engaged("opened", 30), {"ann"}),
        (Engaged("clicked", 30), {"bob", "cat"}),
        (Engaged("clicked_consultation", 30), {"bob"}),
        (Engaged("clicked_consultation", 10), set()),
        (Engaged("opened", None), {"bob", "cat", "dan"}),
        (Engaged("clicked", None), {"ann", "dan"}),
        (All((HasTopic("events"), Any_((SignedUpWithin(100), HasTag("vip"))))), {"cat"}),
        (Any_(()), set()),
        (All(()), {"ann", "bob", "cat", "dan"}),
    ],
)
def test_rules_select_the_right_people(people, rule, expected):
    assert members(people, rule) == expected


def test_scope_excludes_suppressed_and_non_active_unless_status_is_asked(people):
    with people.write() as conn:
        suppress_in(
            conn,
            key=KEY,
            email="bob@example.com",
            reason=SuppressionReason.HARD_BOUNCE,
            source="test",
            now=NOW,
        )
    assert members(people, HasTopic("events")) == {"cat"}
    # Asking for a status does not bring suppressed people back.
    assert members(people, StatusIs(("bounced",))) == set()
    assert members(people, StatusIs(("active", "pending"))) == {"ann", "cat", "dan"}


def test_sql_and_html_values_are_bound_not_executed(people):
    nasty = "x' OR '1'='1"
    assert members(people, HasTopic(nasty)) == set()
    assert members(people, AttributeCompare("city", "equals", "<script>alert(1)</script>")) == set()
