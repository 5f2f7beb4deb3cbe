"""`newsletter campaign review` (#10 item 5) through the CLI entry point, SQLite and PostgreSQL.

Held batches are made by the real recovery path: a claimed batch whose request was noted,
whose lease expired (→ unknown), under the `hold` policy (→ needs_review).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from newsletter.config import load_settings
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.services import recovery
from newsletter.storage import audit_log, batch_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import deliveries, provider_events, send_batches
from tests.audience_db import db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.sending.support import add_audience, new_campaign


@pytest.fixture
def held(workdir, monkeypatch):  # noqa: F811
    """A campaign in needs_review: batches 1 and 2 held (2 with a late provider event), 3 sent."""
    monkeypatch.setenv("NEWSLETTER_UNKNOWN_POLICY", "hold")
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "10")
    settings = load_settings()
    db = Database.from_url(settings.database_url)
    add_audience(db, settings, "review.example", 30)
    campaign_id = new_campaign(db, settings)
    now = datetime.now(UTC)
    recovery.start_due(db, settings.audiences_dir, now=now)
    with db.read() as conn:
        ids = list(
            conn.scalars(
                select(send_batches.c.id)
                .where(send_batches.c.campaign_id == campaign_id)
                .order_by(send_batches.c.seq)
            )
        )
    lease = timedelta(seconds=5)
    with db.write() as conn:
        for batch_id in ids[:2]:
            batch = batch_store.claim(conn, batch_id, worker="w-dead", now=now, lease=lease)
            batch_store.mark_requested(conn, batch, worker="w-dead", now=now, lease=lease)
        batch = batch_store.claim(conn, ids[2], worker="w-ok", now=now, lease=lease)
        batch_store.finish_batch(
            conn,
            batch,
            worker="w-ok",
            status=BatchStatus.ACCEPTED,
            delivery_status=DeliveryStatus.ACCEPTED,
            now=now,
        )
    later = now + timedelta(seconds=10)
    assert recovery.reap_expired(db, now=later) == 2
    # held: past requested_at + lease + request deadline + grace (5 + 1 + 1 s), no evidence
    held = recovery.resolve_unknown(
        db, now=later, grace=timedelta(seconds=1), lease=lease, request=timedelta(seconds=1)
    )
    assert held["needs_review"] == 2
    recovery.finish_campaigns(db, now=later)
    with db.write() as conn:  # a provider event that arrived after batch 2 was held
        delivery = conn.scalar(
            select(deliveries.c.id).where(
                deliveries.c.campaign_id == campaign_id,
                deliveries.c.batch_seq
                == select(send_batches.c.seq).where(send_batches.c.id == ids[1]).scalar_subquery(),
            )
        )
        conn.execute(
            insert(provider_events).values(
                natural_key="late-1",
                delivery_id=delivery,
                event="delivered",
                occurred_at=later,
                received_at=later,
                applied=True,
            )
        )
    yield db, campaign_id, ids
    db.close()


def _state(db: Database, campaign_id: int):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        batches = dict(
            conn.execute(
                select(send_batches.c.id, send_batches.c.status).where(
                    send_batches.c.campaign_id == campaign_id
                )
            ).all()
        )
        rows = conn.execute(
            select(deliveries.c.batch_seq, deliveries.c.status).where(
                deliveries.c.campaign_id == campaign_id
            )
        ).all()
        from newsletter.storage.campaign_store import get_campaign

        return get_campaign(conn, campaign_id).status, batches, rows


def test_review_lists_the_evidence(cli, held):
    _, campaign_id, ids = held
    result = cli("campaign", "review", campaign_id)
    assert result.code == 0, result.err
    assert "2 batch(es) held for review" in result.out
    assert "w-dead: requested" in result.out and "no HTTP answer" in result.out
    assert "delivered 1" in result.out and "none seen" in result.out
    assert "--accept BATCH" in result.out
    listing = json.loads(cli("campaign", "review", campaign_id, "--json").out)
    assert [b["id"] for b in listing] == ids[:2]
    assert listing[0]["attempts"][0]["requested_at"] is not None
    assert listing[0]["recipients"] == 10 and listing[1]["events"] == {"delivered": 1}


def test_bad_batch_ids_are_refused_cleanly(cli, held):
    db, campaign_id, ids = held
    before = _state(db, campaign_id)
    for args, message in [
        (("--accept", "999"), f"campaign {campaign_id} has no batch 999"),
        (("--accept", str(ids[2])), f"held for review can be resolved: batch {ids[2]} is accepted"),
        (("--accept", "x1"), "'x1' is not a batch id"),
        ((str(ids[0]),), "batch ids given without a decision"),
        (("--accept",), "no batch given"),
        (("--accept", "--resend", str(ids[0])), "choose one of --accept and --resend"),
        (("--resend", str(ids[0])), "resending needs a confirmation"),  # stdin is no terminal
    ]:  # fmt: skip
        result = cli("campaign", "review", campaign_id, *args)
        assert result.code == 2, (args, result.out, result.err)
        assert message in result.err, (args, result.err)
        assert "Traceback" not in result.err
    result = cli("campaign", "review", 999, "--accept", "1")
    assert result.code == 2 and "no campaign 999" in result.err
    assert _state(db, campaign_id) == before  # nothing half-written


def test_accept_and_resend_resolve_and_finish_the_campaign(cli, held):
    db, campaign_id, ids = held
    result = cli("campaign", "review", campaign_id, "--accept", str(ids[0]))
    assert result.code == 0, result.err
    assert "1 batch(es), 10 recipient(s) recorded as sent" in result.out
    status, batches, rows = _state(db, campaign_id)
    assert status == "needs_review" and batches[ids[0]] == "accepted"
    assert {s for seq, s in rows if seq == 0} == {"accepted"}

    result = cli("campaign", "review", campaign_id, "--resend", str(ids[1]), "--yes")
    assert result.code == 0, result.err
    assert "anyone it reached gets a second copy" in result.out  # the risk, spelled out
    status, batches, rows = _state(db, campaign_id)
    assert status == "sending" and batches[ids[1]] == "pending"
    assert {s for seq, s in rows if seq == 1} == {"pending"}

    result = cli("campaign", "send", campaign_id, "--yes")  # outbox backend
    assert result.code == 0, result.out + result.err
    status, batches, rows = _state(db, campaign_id)
    assert status == "sent" and {s for _, s in rows} == {"accepted"}
    with db.read() as conn:
        entries = [r for r in audit_log.recent(conn) if r.action.startswith("campaign-review")]
    assert [(r.action, r.target) for r in entries] == [
        ("campaign-review-resend", f"campaign:{campaign_id}"),
        ("campaign-review-accept", f"campaign:{campaign_id}"),
    ]
    assert json.loads(entries[1].detail) == {"batches": [ids[0]], "recipients": 10}


def test_accepting_the_last_held_batches_finishes_the_campaign(cli, held):
    _, campaign_id, ids = held
    result = cli("campaign", "review", campaign_id, "--accept", f"{ids[0]},{ids[1]}")
    assert result.code == 0, result.err
    assert f"Campaign {campaign_id} is sent." in result.out
    assert cli("campaign", "review", campaign_id).out.startswith(
        f"Campaign {campaign_id} has no batch held for review."
    )
