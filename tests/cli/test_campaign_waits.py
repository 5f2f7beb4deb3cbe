"""`campaign status` never shows a silent wait: a lease that cannot be proven free is shown
with its reason and a countdown (#10 item 4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.services import recovery
from newsletter.storage import batch_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import send_batches
from tests.audience_db import db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.sending.support import add_audience, new_campaign


def test_status_says_what_a_campaign_waits_for(cli, workdir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "10")
    settings = load_settings()
    db = Database.from_url(settings.database_url)
    try:
        add_audience(db, settings, "waits.example", 20)
        campaign_id = new_campaign(db, settings)
        now = datetime.now(UTC)
        recovery.start_due(db, settings.audiences_dir, now=now)
        with db.write() as conn:
            first = conn.scalar(
                select(send_batches.c.id)
                .where(send_batches.c.campaign_id == campaign_id)
                .order_by(send_batches.c.seq)
            )
            batch_store.claim(
                conn, first, worker="old-host-7", now=now, lease=timedelta(seconds=600)
            )
    finally:
        db.close()
    result = cli("campaign", "status", campaign_id)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "Waiting: 1 batch(es) held by old-host-7: cannot prove it is gone" in text
    assert "not a registered executor" in text and " s left (until " in text
    waiting = json.loads(cli("campaign", "status", campaign_id, "--json").out)["waiting"]
    assert len(waiting) == 1 and "old-host-7" in waiting[0]
