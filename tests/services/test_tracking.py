"""The event intake service on SQLite and PostgreSQL: dedup, monotonic effects, recovery."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.domain.subscribers import ConsentEvent, ConsentMethod
from newsletter.engagement.event_effects import EventEffects
from newsletter.services import tracking
from newsletter.services.subscribers import record_consent
from newsletter.storage.sending_tables import provider_events, webhook_inbox
from newsletter.storage.tables import consent_records
from tests.claim_probe import claimable
from tests.web.support import (
    NOW,
    NOW_TS,
    SECRET,
    body_of,
    delivery_row,
    event,
    seed_delivery,
    subscriber_status,
    suppression_of,
)


def feed(db, *events, raw: bytes | None = None) -> tracking.ProcessCounts:
    with db.write() as conn:
        tracking.ingest(conn, raw if raw is not None else body_of(*events), NOW)
    return tracking.process_inbox(db, key=SECRET, now=NOW)


def count(db, table, *where) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(*where))


def test_processed_and_delivered_are_recorded_and_give_evidence(db):
    s = seed_delivery(db, "ana@example.org")
    other = seed_delivery(db, "bo@example.org")
    counts = feed(db, event("processed", s.email, NOW_TS - 100, s.send_id),
                  event("delivered", s.email, NOW_TS - 90, s.send_id))  # fmt: skip
    assert (counts.rows, counts.events, counts.new, counts.suppressed) == (1, 2, 2, 0)
    row = delivery_row(db, s.delivery_id)
    assert row.processed_at == NOW - timedelta(seconds=100)
    assert row.delivered_at == NOW - timedelta(seconds=90)
    with db.read() as conn:
        linked = conn.execute(select(provider_events.c.delivery_id, provider_events.c.event))
        assert sorted(linked) == [(s.delivery_id, "delivered"), (s.delivery_id, "processed")]
    assert delivery_row(db, other.delivery_id).processed_at is None
    assert subscriber_status(db, s.email) == "active"


def test_same_batch_ten_times_is_applied_once(db):  # W-05
    s = seed_delivery(db, "ana@example.org")
    raw = body_of(event("processed", s.email, NOW_TS - 5, s.send_id),
                  event("bounce", s.email, NOW_TS - 4, s.send_id, type="bounce"))  # fmt: skip
    totals = [feed(db, raw=raw) for _ in range(10)]
    assert [c.new for c in totals] == [2] + [0] * 9
    assert sum(c.duplicates for c in totals) == 18
    assert sum(c.suppressed for c in totals) == 1
    assert count(db, provider_events) == 2
    assert count(db, consent_records, consent_records.c.event == "withdrawn") == 1
    assert count(db, webhook_inbox, webhook_inbox.c.processed_at.is_(None)) == 0


def test_duplicate_with_a_new_sg_event_id_is_caught_by_the_natural_key(db):  # W-06
    s = seed_delivery(db, "ana@example.org")
    first = event("delivered", s.email, NOW_TS - 5, s.send_id)
    again = {**first, "sg_event_id": "a-different-id-on-retry"}
    assert feed(db, first).new == 1
    counts = feed(db, again)
    assert (counts.new, counts.duplicates) == (0, 1)
    assert count(db, provider_events) == 1


def test_hard_bounce_suppresses_and_a_late_delivered_never_clears_it(db):  # W-07
    s = seed_delivery(db, "ana@example.org")
    assert feed(db, event("bounce", s.email, NOW_TS - 50, s.send_id, type="bounce",
                          reason="550 5.1.1 no such user")).suppressed == 1  # fmt: skip
    feed(db, event("delivered", s.email, NOW_TS - 100, s.send_id),
         event("bounce", s.email, NOW_TS - 40, s.send_id, type="blocked"))  # fmt: skip
    row = delivery_row(db, s.delivery_id)
    assert row.bounce_type == "bounce"
    assert suppression_of(db, s.email) == "hard_bounce"
    assert subscriber_status(db, s.email) == "bounced"
    assert claimable(db, [s.subscriber_id]) == set()


def test_soft_bounce_and_deferred_are_recorded_only(db):
    s = seed_delivery(db, "ana@example.org")
    counts = feed(db, event("bounce", s.email, NOW_TS - 5, s.send_id, type="blocked"),
                  event("deferred", s.email, NOW_TS - 6, s.send_id, attempt="2"))  # fmt: skip
    assert counts.suppressed == 0
    assert delivery_row(db, s.delivery_id).bounce_type == "blocked"
    assert suppression_of(db, s.email) is None
    assert claimable(db, [s.subscriber_id]) == {s.subscriber_id}


@pytest.mark.parametrize(
    ("reason", "suppression"),
    [
        ("Bounced Address", "hard_bounce"),
        ("Invalid", "hard_bounce"),
        ("Spam Reporting Address", "complaint"),
        ("Spam Content", None),
    ],
)
def test_dropped_records_the_reason_and_suppresses_bad_addresses(db, reason, suppression):
    s = seed_delivery(db, "ana@example.org")
    feed(db, event("dropped", s.email, NOW_TS - 5, s.send_id, reason=reason, status="5.0.0"))
    assert delivery_row(db, s.delivery_id).drop_reason == reason
    assert suppression_of(db, s.email) == suppression


@pytest.mark.parametrize(
    ("kind", "reason", "status"),
    [
        ("spamreport", "complaint", "complained"),
        ("unsubscribe", "unsubscribe_one_click", "unsubscribed"),
        ("group_unsubscribe", "unsubscribe_one_click", "unsubscribed"),
    ],
)
def test_complaints_and_unsubscribes_suppress(db, kind, reason, status):
    s = seed_delivery(db, "ana@example.org")
    assert feed(db, event(kind, " Ana@Example.ORG ", NOW_TS - 5, s.send_id)).suppressed == 1
    assert suppression_of(db, s.email) == reason
    assert subscriber_status(db, s.email) == status
    assert claimable(db, [s.subscriber_id]) == set()


def test_a_complaint_outranks_an_earlier_unsubscribe_and_nothing_resubscribes(db):
    s = seed_delivery(db, "ana@example.org")
    feed(db, event("unsubscribe", s.email, NOW_TS - 50, s.send_id))
    feed(db, event("spamreport", s.email, NOW_TS - 40, s.send_id),
         event("group_resubscribe", s.email, NOW_TS - 30, s.send_id, asm_group_id=1),
         event("delivered", s.email, NOW_TS - 20, s.send_id))  # fmt: skip
    assert subscriber_status(db, s.email) == "complained"
    assert suppression_of(db, s.email) == "unsubscribe_one_click"  # the first reason stays
    assert claimable(db, [s.subscriber_id]) == set()


def test_old_unsubscribe_after_a_fresh_opt_in_is_stored_but_not_applied(db):  # W-07
    s = seed_delivery(db, "ana@example.org")
    with db.write() as conn:
        record_consent(conn, subscriber_id=s.subscriber_id, email=s.email,
                       event=ConsentEvent.DOUBLE_OPTIN_CONFIRMED,
                       method=ConsentMethod.WEB_FORM_DOUBLE_OPTIN, source="confirmation:1",
                       now=NOW - timedelta(hours=1))  # fmt: skip
    counts = feed(db, event("unsubscribe", s.email, NOW_TS - 7200, s.send_id))
    assert (counts.new, counts.suppressed) == (1, 0)
    assert subscriber_status(db, s.email) == "active"
    # A newer unsubscribe wins, and a hard bounce always does.
    assert feed(db, event("unsubscribe", s.email, NOW_TS - 60, s.send_id)).suppressed == 1
    assert subscriber_status(db, s.email) == "unsubscribed"
    assert feed(db, event("bounce", s.email, NOW_TS - 9000, s.send_id, type="bounce")).suppressed
    assert subscriber_status(db, s.email) == "bounced"


def test_processed_time_only_moves_earlier(db):  # out of order
    s = seed_delivery(db, "ana@example.org")
    feed(db, event("processed", s.email, NOW_TS - 10, s.send_id, sg_message_id="M.1"))
    feed(db, event("processed", s.email, NOW_TS - 30, s.send_id, sg_message_id="M.2"))
    feed(db, event("processed", s.email, NOW_TS - 20, s.send_id, sg_message_id="M.3"))
    assert delivery_row(db, s.delivery_id).processed_at == NOW - timedelta(seconds=30)


def test_parsing_is_tolerant_and_unknown_types_are_stored_and_ignored(db):  # W-11
    s = seed_delivery(db, "ana@example.org")
    items = [
        event(
            "delivered",
            s.email,
            str(NOW_TS - 5),
            s.send_id,
            category="newsletter",
            some_future_field={"x": 1},
            marketing_campaign_id=7,
        ),
        event("brand_new_event", s.email, NOW_TS - 4, s.send_id),
        {"event": "delivered"},  # no timestamp
        {"timestamp": NOW_TS},  # no type
        "not an object",
        [1, 2],
        event("processed", s.email, "not-a-number", s.send_id),
    ]
    counts = feed(db, raw=json.dumps(items).encode())
    assert (counts.events, counts.new, counts.unknown, counts.invalid) == (7, 2, 1, 5)
    assert delivery_row(db, s.delivery_id).delivered_at == NOW - timedelta(seconds=5)
    with db.read() as conn:
        rows = conn.execute(select(provider_events.c.event, provider_events.c.applied)).all()
    assert sorted(rows) == [("brand_new_event", False), ("delivered", True)]
    assert subscriber_status(db, s.email) == "active"


def test_events_store_no_address_and_bounded_ids(db):
    s = seed_delivery(db, "ana@example.org")
    long_id = "x" * 300
    url = "https://a.example/" + "p" * 500
    ev = event("bounce", s.email, NOW_TS - 5, s.send_id, sg_message_id=None, sg_event_id=long_id,
               type="bounce", url=url, reason=f"550 5.1.1 <{s.email}>: unknown")  # fmt: skip
    feed(db, ev)
    with db.read() as conn:
        row = conn.execute(select(provider_events)).one()
    assert row.send_id == s.send_id
    assert row.sg_event_id.startswith("sha256:")
    assert row.reason == "550 5.1.1 <[address]>: unknown"
    assert "@" not in json.dumps([str(v) for v in row])
    assert suppression_of(db, s.email) == "hard_bounce"


def test_async_bounce_without_message_id_is_deduplicated(db):
    s = seed_delivery(db, "ana@example.org")
    ev = event("bounce", s.email, NOW_TS - 5, s.send_id, type="bounce")
    del ev["sg_message_id"]
    feed(db, ev)
    assert feed(db, {**ev, "sg_event_id": "another"}).duplicates == 1


def test_event_without_address_is_resolved_through_the_send_id(db):
    s = seed_delivery(db, "ana@example.org")
    ev = event("spamreport", s.email, NOW_TS - 5, s.send_id)
    del ev["email"]
    assert feed(db, ev).suppressed == 1
    assert suppression_of(db, s.email) == "complaint"


def test_unknown_address_is_still_suppressed_by_hash(db):
    feed(db, event("bounce", "Stranger@Example.net", NOW_TS - 5, type="bounce"))
    assert suppression_of(db, "stranger@example.net") == "hard_bounce"


def test_rows_stored_before_a_crash_are_processed_by_the_next_run(db):  # W-09
    s = seed_delivery(db, "ana@example.org")
    with db.write() as conn:  # the route stored it, then the process died
        tracking.ingest(conn, body_of(event("spamreport", s.email, NOW_TS - 5, s.send_id)), NOW)
        tracking.ingest(conn, b"{not json", NOW)  # hand-made junk is skipped, not retried
    counts = tracking.process_inbox(db, key=SECRET, now=NOW)
    assert (counts.rows, counts.suppressed, counts.failed_rows) == (2, 1, 0)
    assert tracking.process_inbox(db, key=SECRET, now=NOW).rows == 0


def test_a_failing_row_is_rolled_back_and_retried(db, monkeypatch):
    s = seed_delivery(db, "ana@example.org")
    original = EventEffects.apply
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crash inside the transaction")
        return original(*args, **kwargs)

    monkeypatch.setattr(EventEffects, "apply", flaky)
    with db.write() as conn:
        tracking.ingest(conn, body_of(event("spamreport", s.email, NOW_TS - 5, s.send_id)), NOW)
    first = tracking.process_inbox(db, key=SECRET, now=NOW)
    assert (first.rows, first.failed_rows) == (0, 1)
    assert count(db, provider_events) == 0  # rolled back with the row
    second = tracking.process_inbox(db, key=SECRET, now=NOW)
    assert (second.rows, second.new, second.suppressed) == (1, 1, 1)
