"""Engagement rules applied where webhook events are applied, on SQLite and PostgreSQL:
soft-bounce streaks suppress, the complaint guard pauses a running campaign (W-12, M-03..05);
counters follow events exactly once; retention (PD-6); the stats command and its CSV."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select, update

from newsletter.delivery_ids import DeliveryIds
from newsletter.engagement.retention import purge
from newsletter.services.tracking import ingest, process_inbox
from newsletter.storage.engagement_tables import clicks, soft_bounce_streaks
from newsletter.storage.sending_tables import campaigns
from newsletter.storage.tables import subscriber_events, subscribers, suppressions
from tests.engagement.conftest import SECRET, START, add_recipients


def send_events(db, *events: dict) -> None:
    with db.write() as conn:
        ingest(conn, json.dumps(list(events)).encode(), START)
    counts = process_inbox(db, key=SECRET, now=START)
    assert counts.failed_rows == 0


def ev(kind: str, delivery: int, at: datetime, **extra) -> dict:
    [send_id] = DeliveryIds({"a": SECRET}).send_ids([delivery])
    return {
        "event": kind,
        "timestamp": int(at.timestamp()),
        "send_id": send_id,
        "sg_event_id": f"{kind}-{delivery}-{int(at.timestamp())}",
        "sg_message_id": f"m{delivery}.{kind}.{int(at.timestamp())}",
        **extra,
    }


def status_of(db, email: str):
    with db.read() as conn:
        return conn.scalar(select(subscribers.c.status).where(subscribers.c.email == email))


def one_person_in(tracked, campaigns_count: int, email: str) -> list[int]:
    """One subscriber with a delivery in each of `campaigns_count` new campaigns."""
    from newsletter.domain.subscribers import email_hash
    from newsletter.storage.sending_tables import deliveries
    from tests.engagement.conftest import new_sent_campaign

    settings = tracked.app.state.settings
    made = [new_sent_campaign(tracked.db, settings, key=f"k-{n}") for n in range(campaigns_count)]
    with tracked.db.write() as conn:
        person = conn.execute(
            subscribers.insert()
            .values(
                email=email,
                email_hash=email_hash(SECRET, email),
                status="active",
                signed_up_at=START,
                created_at=START,
                updated_at=START,
            )
            .returning(subscribers.c.id)
        ).scalar_one()
        return [
            conn.execute(
                deliveries.insert()
                .values(
                    campaign_id=c,
                    subscriber_id=person,
                    batch_seq=0,
                    status="accepted",
                    accepted_at=START,
                )
                .returning(deliveries.c.id)
            ).scalar_one()
            for c in made
        ]


def test_three_soft_bounces_over_seven_days_suppress(tracked):  # M-05
    email = "soft@example.org"
    deliveries = one_person_in(tracked, 3, email)
    blocked = {"type": "blocked", "reason": "550 5.7.1 blocked", "email": email}
    send_events(tracked.db, ev("bounce", deliveries[0], START, **blocked))
    send_events(tracked.db, ev("deferred", deliveries[1], START + timedelta(days=2), email=email))
    send_events(tracked.db, ev("bounce", deliveries[1], START + timedelta(days=3), **blocked))
    assert status_of(tracked.db, email) == "active"  # deferred is not a soft bounce
    send_events(tracked.db, ev("bounce", deliveries[2], START + timedelta(days=6), **blocked))
    assert status_of(tracked.db, email) == "active"  # three, but within 7 days
    more = one_person_in(tracked, 1, "other@example.org")  # unrelated person, same day
    send_events(tracked.db, ev("bounce", more[0], START + timedelta(days=7), type="blocked"))
    assert status_of(tracked.db, email) == "active"
    fourth = one_person_in(tracked, 1, "tmp@example.org")[0]
    with tracked.db.write() as conn:  # a fourth campaign to the same person
        from newsletter.storage.sending_tables import deliveries as table

        person = conn.scalar(select(subscribers.c.id).where(subscribers.c.email == email))
        conn.execute(update(table).where(table.c.id == fourth).values(subscriber_id=person))
    send_events(tracked.db, ev("bounce", fourth, START + timedelta(days=7), **blocked))
    assert status_of(tracked.db, email) == "bounced"
    with tracked.db.read() as conn:
        reasons = set(conn.scalars(select(suppressions.c.reason)))
    assert reasons == {"soft_bounce"}


def test_a_delivered_email_ends_the_streak(tracked):
    email = "streak@example.org"
    first, second = one_person_in(tracked, 2, email)
    send_events(tracked.db, ev("bounce", first, START, type="blocked", email=email))
    with tracked.db.read() as conn:
        assert conn.scalar(select(soft_bounce_streaks.c.count)) == 1
    send_events(tracked.db, ev("delivered", second, START + timedelta(days=1)))
    with tracked.db.read() as conn:
        assert conn.scalar(select(soft_bounce_streaks.c.count)) is None


def test_complaints_pause_a_running_campaign_at_three_per_thousand(tracked):  # W-12
    db = tracked.db
    many = add_recipients(db, tracked.campaign_id, 1000, prefix="big")
    send_events(db, *(ev("delivered", d, START + timedelta(seconds=5)) for d in many))
    assert tracked.stats()["delivered"] == 1000  # the 5 fixture deliveries have no event
    send_events(
        db,
        ev("spamreport", many[0], START + timedelta(minutes=5)),
        ev("spamreport", many[1], START + timedelta(minutes=6)),
    )
    stats = tracked.stats()
    assert (stats["complaints"], stats["complaint_guard"], stats["status"]) == (
        2,
        "warn",
        "sending",
    )
    # The same complaint again (SendGrid retries) counts once.
    send_events(db, ev("spamreport", many[1], START + timedelta(minutes=6)))
    send_events(db, ev("spamreport", many[2], START + timedelta(minutes=7)))
    stats = tracked.stats()
    assert (stats["complaints"], stats["status"]) == (3, "paused")
    assert stats["pause_reason"].startswith("complaint rate 0.30 % (3 of 1,000 delivered)")
    with db.read() as conn:
        assert conn.scalar(select(campaigns.c.pause_reason)).endswith(
            "`newsletter campaign resume`"
        )


def test_counters_follow_events_once_per_delivery(tracked):
    d = tracked.deliveries
    send_events(
        tracked.db,
        ev("delivered", d[0], START),
        ev("delivered", d[0], START - timedelta(seconds=1)),
        ev("deferred", d[1], START),
        ev("deferred", d[1], START + timedelta(minutes=5)),
        ev("delivered", d[1], START + timedelta(minutes=9)),
        ev("bounce", d[2], START, type="blocked"),
        ev("bounce", d[2], START + timedelta(hours=1), type="bounce"),
        ev("dropped", d[3], START, reason="Bounced Address"),
        ev("unsubscribe", d[4], START + timedelta(hours=2)),
    )
    stats = tracked.stats()
    assert {
        k: stats[k]
        for k in (
            "delivered",
            "deferred",
            "bounced",
            "bounced_hard",
            "bounced_soft",
            "dropped",
            "unsubscribes",
            "accepted",
        )
    } == {
        "delivered": 2,
        "deferred": 1,
        "bounced": 1,
        "bounced_hard": 1,
        "bounced_soft": 0,
        "dropped": 1,
        "unsubscribes": 1,
        "accepted": 5,
    }
    hours = {p["period"]: p["delivered"] for p in stats["timeline"]}
    assert hours == {"2026-12-01T08:00Z": 1, "2026-12-01T09:00Z": 1}


def test_retention_clears_truncated_values_then_rows(tracked):
    key = tracked.key_of("article")
    tracked.click(tracked.deliveries[0], key, at=600)
    tracked.click(tracked.deliveries[1], key, at=700)
    tracked.stats()
    with tracked.db.write() as conn:
        conn.execute(
            update(clicks)
            .where(clicks.c.delivery_id == tracked.deliveries[1])
            .values(occurred_at=START - timedelta(days=31), ip_prefix="203.0.113.0/24")
        )
        conn.execute(update(subscriber_events).values(occurred_at=START - timedelta(days=91)))
    first = purge(tracked.db, now=START + timedelta(hours=1))
    assert (first.cleared, first.deleted, first.events) == (1, 0, 2)
    with tracked.db.read() as conn:
        row = conn.execute(
            select(clicks).where(clicks.c.delivery_id == tracked.deliveries[1])
        ).one()
    assert (row.ua_family, row.ip_prefix) == (None, None)
    second = purge(tracked.db, now=START + timedelta(days=92))
    assert second.deleted == 2
    assert tracked.stats()["human_clicks"] == 2  # the counters keep what they counted


def test_stats_command_json_and_csv(tracked, cli, monkeypatch):
    monkeypatch.setenv(
        "NEWSLETTER_DATABASE_URL", str(tracked.db.engine.url.render_as_string(hide_password=False))
    )
    monkeypatch.setenv("NEWSLETTER_OPEN_TRACKING", "false")
    for n, delivery in enumerate(tracked.deliveries[:3]):
        tracked.click(delivery, "L1", at=600 + n)
    assert tracked.app.state.clicks.flush()
    result = cli("campaign", "stats", tracked.campaign_id, "--json")
    assert result.code == 0, result.err
    stats = json.loads(result.out)
    assert {
        "recipients",
        "accepted",
        "delivered",
        "bounced",
        "complaints",
        "unsubscribes",
        "human_clicks",
        "machine_clicks",
        "consultation_clicks",
        "conversions",
        "links",
    } <= set(stats)
    assert "opens" not in stats  # only when a clinic turns opens on
    assert (stats["human_clicks"], stats["consultation_clicks"]) == (3, 3)
    assert stats["links"][0] == {
        "key": "L1",
        "kind": "consultation",
        "url": tracked.links["L1"].url,
        "label": "Book a consultation",
        "human_clicks": 3,
        "machine_clicks": 0,
        "conversions": 0,
        "test_clicks": 0,
    }
    csv_out = cli("campaign", "stats", tracked.campaign_id, "--csv")
    assert csv_out.code == 0
    lines = csv_out.out.splitlines()
    assert lines[0] == "section,name,kind,metric,value"
    assert "campaign,newsletter-2026-12,,human_clicks,3" in lines  # totals exact
    assert "link,L1,consultation,human_clicks,<5" in lines  # small cells rounded
    assert "hour,2026-12-01T09:00Z,,human_clicks,<5" in lines
    table = cli("campaign", "stats", tracked.campaign_id)
    assert table.code == 0 and "Book" not in table.err
    assert cli("campaign", "stats", tracked.campaign_id, "--json", "--csv").code == 2
    assert cli("campaign", "stats", 999).code == 2


def test_stats_read_counters_only(tracked, monkeypatch):
    """No scan: stats must not read deliveries or clicks at all."""
    from sqlalchemy import event

    seen: list[str] = []
    listener = lambda conn, cursor, statement, *a: seen.append(statement)  # noqa: E731
    event.listen(tracked.db.engine, "before_cursor_execute", listener)
    try:
        tracked.stats()
    finally:
        event.remove(tracked.db.engine, "before_cursor_execute", listener)
    touched = " ".join(seen).lower()
    assert "from campaign_counters" in touched
    assert "from deliveries" not in touched and "from clicks" not in touched
