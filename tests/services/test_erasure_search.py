"""Erasure erases (issue #13): after `subscribers erase`, every column of every table on
SQLite and PostgreSQL is searched for the address and only its keyed hash remains; the raw
webhook batches (processed or not), provider error texts, outbox emails and the rejects
report no longer name the person. Raw batches are purged after the retention period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text, update

from newsletter.bootstrap import open_database
from newsletter.config import load_settings
from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.delivery.outbox import OutboxBackend
from newsletter.domain.subscribers import email_hash
from newsletter.services import double_opt_in
from newsletter.services.tracking import ingest, process_inbox
from newsletter.storage.sending_tables import (
    campaigns,
    deliveries,
    send_attempts,
    send_batches,
    webhook_inbox,
)
from newsletter.storage.tables import subscribers, suppressions
from tests.audience_db import db_url  # noqa: F401

ANN = "ann.erased@example.com"
CONSENT = "I agree to receive the clinic newsletter."
NOW = datetime.now(UTC)


@pytest.fixture
def home(tmp_path, monkeypatch, db_url):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    (tmp_path / "people.csv").write_text(
        f"email,first_name\n{ANN},Ann\nbob@example.com,Bob\n{ANN.upper()},Ann again\n"
    )
    return tmp_path


def _event(kind: str, **extra):
    stamp = int(NOW.timestamp()) - 60
    return {"email": ANN, "event": kind, "timestamp": stamp, "sg_event_id": f"ev-{kind}",
            "sg_message_id": "MSG1.x", **extra}  # fmt: skip


def _seed_sending(db, subscriber_id: int) -> None:
    """A campaign sent to Ann, with provider texts quoting her address (a 400 body)."""
    quoted = f"The to address {ANN} was rejected"
    with db.write() as conn:
        campaign_id = conn.execute(
            campaigns.insert().values(
                key="newsletter-2026-12", status="paused", template="article",
                segment="everyone", subject="News", preheader="News", sender_name="Clinic",
                sender_email="n@c.example", reply_to="r@c.example", articles_json="[]",
                html="<p>x</p>", text="x", batch_size=100,
                unknown_policy="events", late_send_window_s=0, to_send=1, created_at=NOW,
                pause_reason=quoted,
            ).returning(campaigns.c.id)
        ).scalar_one()  # fmt: skip
        batch_id = conn.execute(
            send_batches.insert().values(campaign_id=campaign_id, seq=0, status="failed",
                                         attempts=1, last_error=quoted)
            .returning(send_batches.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(send_attempts.insert().values(batch_id=batch_id, attempt=1, worker="w",
                                                   claimed_at=NOW, detail=quoted))  # fmt: skip
        conn.execute(deliveries.insert().values(campaign_id=campaign_id,
                                                subscriber_id=subscriber_id, batch_seq=0,
                                                status="failed", last_error=quoted))  # fmt: skip


def _outbox_email(settings) -> None:
    batch = OutgoingBatch(
        subject="News", html="<p>Hi</p>", text="Hi", sender_name="Clinic",
        sender_email="news@clinic.example", reply_to="hello@clinic.example",
        list_id="Clinic news <news.clinic.example>",
        recipients=(OutgoingRecipient(ANN, {}, "https://c.example/u/tok", "send0123456789abcdef"),
                    OutgoingRecipient("bob@example.com", {}, "https://c.example/u/t2",
                                      "send9876543210fedcba")),
    )  # fmt: skip
    assert OutboxBackend(settings.outbox_dir).send(batch).status == 202


def _everything(db) -> list[tuple[str, str, object]]:
    """(table, column, value) for every value of every table, as stored."""
    found = []
    with db.read() as conn:
        for table in inspect(conn).get_table_names():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                pairs = zip(columns, row, strict=True)
                found.extend((table, column, value) for column, value in pairs)
    return found


def _mentions(value: object, needles: list[str]) -> bool:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return isinstance(value, str) and any(n in value.lower() for n in needles)


def test_erasure_leaves_only_the_keyed_hash_in_every_column(cli, home):
    assert cli("lists", "create", "news").code == 0
    assert cli("lists", "create", "events", "--double-opt-in").code == 0
    imported = cli("subscribers", "import", home / "people.csv", "--list", "news",
                   "--consent", CONSENT)  # fmt: skip
    assert imported.code == 0, imported.err
    assert ANN in (home / "people.csv.rejects.csv").read_text(encoding="utf-8-sig").lower()
    settings = load_settings()
    with open_database(settings) as db:
        sent = double_opt_in.request_confirmation(
            db, settings, email=ANN, list_name="events", consent_text=CONSENT, source="form:events"
        )
        assert sent.requested
        with db.read() as conn:
            ann_id = conn.scalar(select(subscribers.c.id).where(subscribers.c.email == ANN))
        _seed_sending(db, ann_id)
        _outbox_email(settings)
        processed = json.dumps([_event("delivered"), _event("bounce", reason=f"550 {ANN}: no")])
        pending = json.dumps([_event("open"), _event("click", url=f"https://x.example/?e={ANN}")])
        with db.write() as conn:
            ingest(conn, processed.encode(), NOW)
        process_inbox(db, key=settings.key_ring, now=NOW)
        with db.write() as conn:
            ingest(conn, pending.encode(), NOW)  # still unprocessed when the erasure comes
        needles = [ANN.lower(), json.dumps(ANN)[1:-1].lower()]
        before = {(t, c) for t, c, v in _everything(db) if _mentions(v, needles)}
        assert {("subscribers", "email"), ("webhook_inbox", "raw_body"),
                ("consent_records", "email"), ("send_attempts", "detail")} <= before  # fmt: skip

    erased = cli("subscribers", "erase", ANN, "--yes")
    assert erased.code == 0, erased.err
    assert "Redacted 2 stored webhook batch(es)" in " ".join(erased.out.split())

    with open_database(settings) as db:
        left = [(t, c) for t, c, v in _everything(db) if _mentions(v, needles)]
        assert left == [], f"the erased address is still stored in {left}"
        with db.read() as conn:
            kept = conn.execute(select(suppressions.c.email_hash, suppressions.c.email,
                                       suppressions.c.reason)).all()  # fmt: skip
            raw = [json.loads(r) for r in conn.scalars(select(webhook_inbox.c.raw_body))]
        # The bounce's suppression keeps its reason and loses the address; only the hash is left.
        assert kept == [(email_hash(settings.key_ring, ANN), None, "hard_bounce")]
        assert all("email" not in event for batch in raw for event in batch)
        assert "[erased]" in json.dumps(raw)
        # The unprocessed batch is still processed, without the address.
        counts = process_inbox(db, key=settings.key_ring, now=NOW)
        assert counts.rows == 1 and counts.failed_rows == 0
    outbox = sorted(p.name for p in (home / "outbox").glob("*.eml"))
    assert outbox == ["send9876543210fedcba.eml"]  # Bob's stays; Ann's and her confirmation go
    report = (home / "people.csv.rejects.csv").read_text(encoding="utf-8-sig").lower()
    assert ANN not in report and report.startswith("line,email,reason")


def test_raw_batches_are_purged_after_the_retention_period(cli, home, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_WEBHOOK_RETENTION_DAYS", "7")
    assert cli("lists", "list").code == 0
    settings = load_settings()
    with open_database(settings) as db:
        with db.write() as conn:
            old = ingest(conn, b"[]", NOW - timedelta(days=9))
            young = ingest(conn, b"[]", NOW - timedelta(days=2))
            waiting = ingest(conn, b"[]", NOW - timedelta(days=30))
        process_inbox(db, key=settings.key_ring, now=NOW - timedelta(days=8))  # old and young
        with db.write() as conn:
            conn.execute(update(webhook_inbox).where(webhook_inbox.c.id == young)
                         .values(processed_at=NOW - timedelta(days=1)))  # fmt: skip
            conn.execute(update(webhook_inbox).where(webhook_inbox.c.id == waiting)
                         .values(processed_at=None))  # fmt: skip
    result = cli("events", "process")
    assert result.code == 0, result.err
    with open_database(settings) as db, db.read() as conn:
        kept = set(conn.scalars(select(webhook_inbox.c.id)))
    # `events process` processed the waiting one just now: kept for 7 days from now.
    assert kept == {young, waiting} and old not in kept
    assert "purged 1 raw batch(es)" in " ".join(result.out.split())
