"""A campaign over SMTP (one recipient per call) through `newsletter campaign send`, counted
at a real aiosmtpd peer: everyone exactly once, batches cut to the backend's limit even for a
campaign created while another backend was configured, and a sender killed with SIGKILL
between the peer's receipt and its acknowledgement (the unknown outcome): after a second run,
everyone exactly once, the one in doubt held for review (the `hold` policy, the default
without a webhook key: docs/sending.md, "Unknown outcomes")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from newsletter.domain.campaigns import CampaignStatus
from newsletter.services.planning import plan
from newsletter.storage import campaign_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches
from newsletter.storage.tables import subscribers
from tests.audience_db import db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.seed import SEED_TEXT
from tests.smtp_peer import smtp_peer  # noqa: F401

CONSENT = "I agree to receive the Mindstream Medicine newsletter."


def _audience(cli, workdir, count: int) -> list[str]:  # noqa: F811
    emails = [f"patient{i}@example.org" for i in range(count)]
    assert cli("lists", "create", "news").code == 0
    roster = workdir / "news.csv"
    roster.write_text("email\n" + "".join(f"{e}\n" for e in emails))
    imported = cli("subscribers", "import", roster, "--list", "news", "--consent", CONSENT,
                   "--consent-confirmed")  # fmt: skip
    assert imported.code == 0, imported.err
    return emails


def _create(cli) -> int:
    created = cli("campaign", "create", "--article", SEED_TEXT, "--list", "news")
    assert created.code == 0, created.err
    return int(created.out.strip().splitlines()[-1])


def _ledger(db_url: str, campaign_id: int):  # noqa: F811
    """(campaign status, batch size, {email: delivery status}, batch sizes seen)."""
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
            sizes = set(
                conn.scalars(
                    select(func.count())
                    .select_from(deliveries)
                    .where(deliveries.c.campaign_id == campaign_id)
                    .group_by(deliveries.c.batch_seq)
                )
            )
            batches = conn.scalar(
                select(func.count())
                .select_from(send_batches)
                .where(send_batches.c.campaign_id == campaign_id)
            )
    finally:
        database.close()
    return row.status, row.batch_size, by_email, sizes, batches


def test_a_campaign_over_smtp_reaches_everyone_exactly_once(
    cli,
    workdir,  # noqa: F811
    db_url,  # noqa: F811
    smtp_peer,  # noqa: F811
    monkeypatch,
):
    emails = _audience(cli, workdir, 5)
    # Created while the outbox (1,000 per call) was configured: stored with the settings' 100.
    early = _create(cli)
    assert _ledger(db_url, early)[1] == 100
    for name, value in smtp_peer.env().items():
        monkeypatch.setenv(name, value)
    later = _create(cli)
    assert _ledger(db_url, later)[1] == 1  # created for SMTP: one recipient per call

    for campaign_id, expected in ((early, Counter(emails)), (later, Counter(emails + emails))):
        sent = cli("campaign", "send", campaign_id, "--yes")
        assert sent.code == 0, sent.out + sent.err
        status, batch_size, by_email, sizes, batches = _ledger(db_url, campaign_id)
        assert (status, batch_size, sizes, batches) == ("sent", 1, {1}, 5)
        assert by_email == dict.fromkeys(emails, "accepted")
        assert smtp_peer.received == expected


def test_a_sender_killed_mid_send_then_run_again(
    cli,
    workdir,  # noqa: F811
    db_url,  # noqa: F811
    smtp_peer,  # noqa: F811
    monkeypatch,
):
    emails = _audience(cli, workdir, 6)
    for name, value in smtp_peer.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEWSLETTER_SEND_THREADS", "1")  # one batch at a time: the victim known
    monkeypatch.setenv("NEWSLETTER_LEASE_SECONDS", "1")  # the second run reaps it soon
    # ...which the pre-request check allows only with a request deadline and margin inside it
    monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "0.5")
    monkeypatch.setenv("NEWSLETTER_SEND_SAFETY_MARGIN_S", "0.2")
    monkeypatch.setenv("NEWSLETTER_WEBHOOK_GRACE_S", "0.5")
    campaign_id = _create(cli)
    env = dict(os.environ)
    command = [sys.executable, "-m", "newsletter", "campaign", "send", str(campaign_id), "--yes"]
    first = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def kill_on_third(number: int) -> None:
        if number == 3:  # stored by the peer; the sender dies before hearing "250"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=60)

    smtp_peer.handler.before_ack = kill_on_third
    _, err = first.communicate(timeout=120)
    assert first.returncode == -signal.SIGKILL, err.decode()
    assert smtp_peer.received == Counter(emails[:3])
    smtp_peer.handler.before_ack = None

    # The victim's request may have reached the peer: it stays in doubt until lease + request
    # deadline + grace after its request (2 s here), then the `hold` policy holds it. A run
    # before that sends everyone else and says what is in doubt; a run after it finishes.
    runs = []
    while not runs or "in doubt: their request may have reached" in runs[-1].stdout:
        assert len(runs) < 10, runs[-1].stdout
        if runs:
            time.sleep(0.5)  # pacing between runs; the verdict below does not depend on it
        runs.append(
            subprocess.run(
                command, env=env, cwd=workdir, capture_output=True, text=True, timeout=120
            )
        )
        assert runs[-1].returncode == 1, runs[-1].stdout + runs[-1].stderr  # never "sent"
    assert "needs_review" in runs[-1].stdout
    status, _, by_email, _, _ = _ledger(db_url, campaign_id)
    assert status == "needs_review"
    assert by_email == {
        **dict.fromkeys(emails, "accepted"),
        emails[2]: "needs_review",  # sent once, but the sender cannot know: a person decides
    }
    assert smtp_peer.received == Counter(emails)  # nobody twice, nobody missed


def test_batches_frozen_for_another_backend_are_cut_before_sending(
    cli,
    workdir,  # noqa: F811
    db_url,  # noqa: F811
    smtp_peer,  # noqa: F811
    monkeypatch,
):
    """Planned (frozen in batches of 100) under the outbox, then sent over SMTP: each batch is
    cut to one recipient per call before anything is marked, and everyone gets one email."""
    emails = _audience(cli, workdir, 4)
    campaign_id = _create(cli)
    database = Database.from_url(db_url)
    try:
        with database.write() as conn:
            for status in (CampaignStatus.SCHEDULED, CampaignStatus.PLANNING):
                assert campaign_store.transition(conn, campaign_id, status)
        plan(database, workdir / "audiences", campaign_id, now=datetime.now(UTC))
    finally:
        database.close()
    assert _ledger(db_url, campaign_id)[3:] == ({4}, 1)  # one batch of four, frozen
    for name, value in smtp_peer.env().items():
        monkeypatch.setenv(name, value)
    sent = cli("campaign", "send", campaign_id, "--yes")
    assert sent.code == 0, sent.out + sent.err
    status, _, by_email, sizes, batches = _ledger(db_url, campaign_id)
    assert (status, sizes, batches) == ("sent", {1}, 5)  # the split parent and four children
    assert by_email == dict.fromkeys(emails, "accepted")
    assert smtp_peer.received == Counter(emails)
