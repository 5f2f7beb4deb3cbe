"""`newsletter subscribers add` into a double opt-in list with SendGrid configured: the
confirmation goes to SendGrid (the emulator, real client), a 500 leaves it queued, and
`newsletter subscribers send-confirmations` sends it; both databases."""

from __future__ import annotations

import pytest

from tests.audience_db import db, db_url  # noqa: F401
from tests.emulator_fixture import emulator  # noqa: F401

CONSENT = "Yes, send me news from Mindstream Medicine."


@pytest.fixture
def sendgrid_env(monkeypatch, db_url, emulator):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.local-dev-key")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_BASE_URL", emulator.base_url)
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_S", "0.001")
    monkeypatch.setenv("NEWSLETTER_RETRY_CAP_S", "0.001")
    monkeypatch.setenv("NEWSLETTER_TRANSACTIONAL_SENDER_EMAIL", "welcome@clinic.example")
    monkeypatch.setenv("COLUMNS", "200")
    return emulator


def test_subscribers_add_sends_through_sendgrid_and_a_failure_is_retried(
    cli, sendgrid_env, tmp_path
):
    emu = sendgrid_env
    assert cli("lists", "create", "news", "--double-opt-in").code == 0
    added = cli("subscribers", "add", "ann@example.org", "--list", "news", "--consent", CONSENT)
    assert added.code == 0, added.err
    assert "Confirmation email sent through sendgrid (from welcome@clinic.example)." in added.out
    assert [m["from"]["email"] for m in emu.messages_to("ann@example.org")] == [
        "welcome@clinic.example"
    ]
    assert not (tmp_path / "outbox").exists()  # the outbox only when it is the backend

    emu.set_faults({"next": [500]})
    queued = cli("subscribers", "add", "bob@example.org", "--list", "news", "--consent", CONSENT)
    assert queued.code == 0, queued.err
    assert "Added bob@example.org (pending)." in queued.out
    assert "Confirmation email queued: sendgrid answered 500" in queued.out
    assert "newsletter subscribers send-confirmations" in queued.out
    assert emu.messages_to("bob@example.org") == []

    retried = cli("subscribers", "send-confirmations")
    assert retried.code == 0, retried.err
    assert "Confirmation emails this run: 1 sent." in retried.out
    assert "Queued: 0; sent 2, failed 0 in all." in retried.out
    assert len(emu.messages_to("bob@example.org")) == 1
    again = cli("subscribers", "send-confirmations")
    assert "Confirmation emails this run: none due." in again.out
