"""`newsletter campaign pause|resume|cancel|test|retry-failed` (and `list`, `status` on
what they leave) through the real entry point, on SQLite and PostgreSQL, with mail going to
a real aiosmtpd peer that counts what it receives."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.services.campaign_schedule import start_now
from newsletter.services.planning import plan, start_planning
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches
from newsletter.storage.tables import subscribers
from tests.audience_db import db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.seed import SEED_TEXT
from tests.smtp_peer import smtp_peer  # noqa: F401

CONSENT = "I agree to receive the Mindstream Medicine newsletter."
EMAILS = ["ann@example.org", "bob@example.org", "cat@example.org"]
SUBJECT = "The Role of Neuroplasticity in Mental Health: How Ketamine Helps"  # the seed's title


def _campaign(cli, workdir, monkeypatch, peer) -> int:  # noqa: F811
    """A draft for the list `news` (three confirmed members), mail going to `peer`."""
    for name, value in peer.env().items():
        monkeypatch.setenv(name, value)
    assert cli("lists", "create", "news").code == 0
    roster = workdir / "news.csv"
    roster.write_text("email\n" + "".join(f"{e}\n" for e in EMAILS))
    imported = cli("subscribers", "import", roster, "--list", "news", "--consent", CONSENT,
                   "--consent-confirmed")  # fmt: skip
    assert imported.code == 0, imported.err
    created = cli("campaign", "create", "--article", SEED_TEXT, "--list", "news")
    assert created.code == 0, created.err
    return int(created.out.strip().splitlines()[-1])


def _planned(db_url: str, campaign_id: int) -> None:  # noqa: F811
    """Started and frozen (sending, every batch pending), as the engine leaves it before its
    first dispatch: what pause, resume and cancel act on."""
    settings = load_settings()
    database = Database.from_url(db_url)
    try:
        now = datetime.now(UTC)
        assert start_now(database, settings, campaign_id, now=now) == "scheduled"
        assert start_planning(database, campaign_id, now=now)
        assert plan(database, settings.audiences_dir, campaign_id, now=now) == len(EMAILS)
    finally:
        database.close()


def _state(db_url: str, campaign_id: int):  # noqa: F811
    """(status, pause_reason, {email: delivery status}, sorted batch statuses)."""
    database = Database.from_url(db_url)
    try:
        with database.read() as conn:
            row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()
            by_email = dict(
                conn.execute(
                    select(subscribers.c.email, deliveries.c.status)
                    .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                    .where(deliveries.c.campaign_id == campaign_id)
                ).all()
            )
            batches = sorted(
                conn.scalars(
                    select(send_batches.c.status).where(send_batches.c.campaign_id == campaign_id)
                )
            )
    finally:
        database.close()
    return row.status, row.pause_reason, by_email, batches


def test_pause_then_resume_then_send(cli, workdir, db_url, smtp_peer, monkeypatch):  # noqa: F811
    campaign_id = _campaign(cli, workdir, monkeypatch, smtp_peer)
    early = cli("campaign", "pause", campaign_id)
    assert early.code == 2
    assert f"campaign {campaign_id} is draft; cannot become paused" in early.err
    assert "Traceback" not in early.err
    _planned(db_url, campaign_id)

    paused = cli("campaign", "pause", campaign_id)
    assert (paused.code, paused.out) == (0, f"Campaign {campaign_id} is now paused.\n")
    assert _state(db_url, campaign_id) == (
        "paused",
        "paused by a person",
        dict.fromkeys(EMAILS, "pending"),
        ["pending"] * 3,
    )
    status = json.loads(cli("campaign", "status", campaign_id, "--json").out)
    assert (status["status"], status["pause_reason"]) == ("paused", "paused by a person")
    assert f"│ {campaign_id}  │ paused │ list:news" in cli("campaign", "list").out

    resumed = cli("campaign", "resume", campaign_id)
    assert (resumed.code, resumed.out) == (0, f"Campaign {campaign_id} is now sending.\n")
    assert _state(db_url, campaign_id)[:2] == ("sending", None)
    again = cli("campaign", "resume", campaign_id)
    assert again.code == 2
    assert f"campaign {campaign_id} is sending; cannot become sending" in again.err
    assert smtp_peer.received == Counter()  # neither command sent anything

    sent = cli("campaign", "send", campaign_id, "--yes")
    assert sent.code == 0, sent.out + sent.err
    assert _state(db_url, campaign_id) == (
        "sent",
        None,
        dict.fromkeys(EMAILS, "accepted"),
        ["accepted"] * 3,
    )
    assert smtp_peer.received == Counter(EMAILS)


def test_cancel_stops_for_good(cli, workdir, db_url, smtp_peer, monkeypatch):  # noqa: F811
    campaign_id = _campaign(cli, workdir, monkeypatch, smtp_peer)
    _planned(db_url, campaign_id)
    cancelled = cli("campaign", "cancel", campaign_id)
    assert (cancelled.code, cancelled.out) == (0, f"Campaign {campaign_id} is now cancelled.\n")
    assert _state(db_url, campaign_id) == (
        "cancelled",
        None,
        dict.fromkeys(EMAILS, "cancelled"),
        ["cancelled"] * 3,
    )
    again = cli("campaign", "cancel", campaign_id)
    assert again.code == 2
    assert f"campaign {campaign_id} is cancelled" in again.err
    assert "only campaigns that have not ended can be cancelled" in again.err
    resumed = cli("campaign", "resume", campaign_id)
    assert resumed.code == 2
    assert f"campaign {campaign_id} is cancelled; cannot become sending" in resumed.err
    send = cli("campaign", "send", campaign_id, "--yes")
    assert (send.code, send.out) == (1, f"Campaign {campaign_id} is cancelled.\n")
    assert smtp_peer.received == Counter()
    missing = cli("campaign", "cancel", 9999)
    assert missing.code == 2 and "9999" in missing.err and "Traceback" not in missing.err


def test_test_sends_to_the_seed_list_only(cli, workdir, db_url, smtp_peer, monkeypatch):  # noqa: F811
    campaign_id = _campaign(cli, workdir, monkeypatch, smtp_peer)
    seeds = ["seed1@clinic.example", "seed2@clinic.example"]
    sent = cli("campaign", "test", campaign_id, "--to", seeds[0], "--to", seeds[1])
    assert (sent.code, sent.out) == (0, "Test sent to 2 address(es).\n")
    assert smtp_peer.received == Counter(seeds)
    assert sorted(smtp_peer.handler.subjects) == [(s, f"[TEST] {SUBJECT}") for s in seeds]
    assert _state(db_url, campaign_id) == ("draft", None, {}, [])  # nothing in the ledger

    bad = cli("campaign", "test", campaign_id, "--to", "not-an-address")
    assert bad.code == 2 and "--to: 'not-an-address' is not an email address" in bad.err
    none = cli("campaign", "test", campaign_id)
    assert none.code == 2 and "--to" in none.err
    smtp_peer.handler.refuse = {"nobody@clinic.example"}
    refused = cli("campaign", "test", campaign_id, "--to", "nobody@clinic.example")
    assert refused.code == 2 and "the test send was not accepted" in refused.err
    assert smtp_peer.received == Counter(seeds)  # nothing more arrived


def test_retry_failed_sends_to_the_failed_only(cli, workdir, db_url, smtp_peer, monkeypatch):  # noqa: F811
    campaign_id = _campaign(cli, workdir, monkeypatch, smtp_peer)
    early = cli("campaign", "retry-failed", campaign_id)
    assert early.code == 2 and f"campaign {campaign_id} is draft" in early.err
    assert "retry-failed applies to campaigns sent with errors" in early.err

    smtp_peer.handler.refuse = {"bob@example.org"}  # a permanent refusal: failed
    first = cli("campaign", "send", campaign_id, "--yes")
    assert first.code == 1, first.out + first.err
    assert _state(db_url, campaign_id)[::2] == (
        "sent_with_errors",
        {**dict.fromkeys(EMAILS, "accepted"), "bob@example.org": "failed"},
    )
    assert smtp_peer.received == Counter(["ann@example.org", "cat@example.org"])

    smtp_peer.handler.refuse = set()  # the mailbox exists now
    retried = cli("campaign", "retry-failed", campaign_id)
    assert retried.code == 0, retried.err
    assert retried.out == (
        f"1 failed recipient(s) queued again; run `newsletter campaign send {campaign_id}` "
        "or let the engine send them.\n"
    )
    status, _, by_email, batches = _state(db_url, campaign_id)
    assert (status, by_email["bob@example.org"]) == ("sending", "pending")
    assert batches == ["accepted", "accepted", "failed", "pending"]

    second = cli("campaign", "send", campaign_id, "--yes")
    assert second.code == 0, second.out + second.err
    assert _state(db_url, campaign_id)[::2] == ("sent", dict.fromkeys(EMAILS, "accepted"))
    assert smtp_peer.received == Counter(EMAILS)  # bob once, nobody twice
    after = cli("campaign", "retry-failed", campaign_id)
    assert after.code == 2 and f"campaign {campaign_id} is sent" in after.err
