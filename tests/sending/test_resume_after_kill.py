"""The resume gate (#10): `kill -9` of a real `newsletter campaign send` mid-campaign; the next
run claims its first batch within 5 s and finishes 2,000 recipients in < 20 s, 0 duplicates
at the emulator, with the production lease (120 s) — so nothing waited for a lease. Batches
whose request may have left are held for review (the `hold` policy), never resent.

Timing margins (measured, docs/sending.md "Executors"): on a busy 2-core machine the next
run's first claim came ~1–2 s after launch (Python start-up is most of it) and the whole
resume took a few seconds; the bounds are 5 s and 20 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from newsletter.config import load_settings
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import send_attempts, send_batches
from tests.audience_db import db_url  # noqa: F401
from tests.seed import REPO
from tests.sending.support import (
    KEY,
    accepted_in_log,
    add_audience,
    new_campaign,
    statuses_by_email,
)

RECIPIENTS = 2000
DOMAIN = "resume.example"


@pytest.fixture
def env(monkeypatch, db_url, emulator):  # noqa: F811
    values = {
        "NEWSLETTER_DATABASE_URL": db_url,
        "NEWSLETTER_DELIVERY": "sendgrid",
        "NEWSLETTER_SENDGRID_API_KEY": KEY,
        "NEWSLETTER_SENDGRID_BASE_URL": emulator.base_url,
        "NEWSLETTER_AUDIENCES_DIR": str(REPO / "audiences"),
        "NEWSLETTER_PUBLIC_URL": "https://news.mindstream.example",
        "NEWSLETTER_UNKNOWN_POLICY": "hold",  # in doubt → a person decides, never resent
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


def _send(campaign_id: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "campaign", "send", str(campaign_id), "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _batches(db: Database, campaign_id: int) -> Counter:
    with db.read() as conn:
        return Counter(
            dict(
                conn.execute(
                    select(send_batches.c.status, func.count())
                    .where(send_batches.c.campaign_id == campaign_id)
                    .group_by(send_batches.c.status)
                ).all()
            )
        )


def test_a_killed_send_resumes_at_once(env, emulator, db_url):  # noqa: F811
    # Slow enough that the first run is surely mid-campaign when it dies.
    emulator.set_faults(latency_ms=250)
    settings = load_settings()
    db = Database.from_url(db_url)
    try:
        add_audience(db, settings, DOMAIN, RECIPIENTS)
        campaign_id = new_campaign(db, settings)

        first = _send(campaign_id, env)
        deadline = time.monotonic() + 120
        while _batches(db, campaign_id)["accepted"] < 3:
            assert first.poll() is None, first.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the first run never got going"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stdout.close()  # type: ignore[union-attr]
        at_kill = _batches(db, campaign_id)
        total = RECIPIENTS // settings.batch_size
        assert sum(at_kill.values()) == total
        assert at_kill["accepted"] < total, "killed too late: nothing left to resume"

        launched = time.time()
        second = _send(campaign_id, env)
        out, _ = second.communicate(timeout=120)
        finished = time.time()
        with db.read() as conn:
            claimed = conn.scalar(
                select(func.min(send_attempts.c.claimed_at))
                .join(send_batches, send_batches.c.id == send_attempts.c.batch_id)
                .where(
                    send_batches.c.campaign_id == campaign_id,
                    send_attempts.c.claimed_at >= datetime.fromtimestamp(launched, UTC),
                )
            )
        first_claim = claimed.timestamp() - launched
        total_s = finished - launched
        print(
            f"\nresume on {db.dialect}: at kill {dict(at_kill)}; first claim after "
            f"{first_claim:.2f} s, done after {total_s:.2f} s; {out.decode()[-300:]}"
        )
        assert first_claim < 5, f"first claim {first_claim:.2f} s after the restart"
        assert total_s < 20, f"resume took {total_s:.2f} s"

        sent = accepted_in_log(emulator.log_path, DOMAIN)
        assert {e: n for e, n in sent.items() if n > 1} == {}, "duplicates at the provider"
        after = _batches(db, campaign_id)
        assert not {k: v for k, v in after.items() if k in ("pending", "in_flight", "unknown")}
        by_status = statuses_by_email(db, campaign_id)
        accepted, review = by_status.get("accepted", set()), by_status.get("needs_review", set())
        assert accepted <= set(sent)
        assert len(accepted) + len(review) == RECIPIENTS, "someone was lost"
        assert set(sent) - accepted <= review, "sent but not accounted for"
        # Only batches the dead run had in flight can be in doubt.
        assert after["needs_review"] <= at_kill["in_flight"]
        assert second.returncode == (0 if not review else 1), out.decode()
    finally:
        db.close()
