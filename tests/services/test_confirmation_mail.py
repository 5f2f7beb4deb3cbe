"""Double opt-in confirmation emails go through the configured delivery backend, queued with
the sign-up and retried: the SendGrid emulator with the real client (a 500, then success),
the SMTP peer, the outbox; both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from newsletter.delivery.outbox import OutboxBackend
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.delivery.smtp import SmtpBackend
from newsletter.domain.subscribers import SuppressionReason
from newsletter.emulator import read_log
from newsletter.services.confirmation_mail import (
    GIVE_UP_AFTER,
    send_confirmation,
    send_due_confirmations,
)
from newsletter.services.double_opt_in import confirm_subscription, request_confirmation
from newsletter.services.lists import create_list
from newsletter.services.subscribers import subscriber_profile
from newsletter.services.suppressions import suppress_in
from newsletter.storage import confirmation_queue
from newsletter.storage.tables import confirmation_emails, confirmation_requests
from tests.delivery.test_smtp_and_outbox import Handler, plain  # noqa: F401  (the SMTP peer)
from tests.emulator_fixture import emulator  # noqa: F401

KEY = "SG.local-dev-key"
CONSENT = "Yes, send me news from Mindstream Medicine."


@pytest.fixture
def key(settings):
    return settings.secret_key.get_secret_value()


@pytest.fixture
def news(db):
    create_list(db, "news", double_opt_in=True)
    return db


def _sign_up(db, settings, backend, email="vic@example.org", **kwargs):
    return request_confirmation(db, settings, email=email, list_name="news",
                                consent_text=CONSENT, source="web:signup", first_name="Vic",
                                backend=backend, **kwargs)  # fmt: skip


def _queue_row(db, email_id):
    with db.read() as conn:
        return conn.execute(
            select(confirmation_emails).where(confirmation_emails.c.id == email_id)
        ).one()


def _later(seconds: float):
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_sendgrid_500_loses_nothing_and_the_retry_delivers(news, settings, emulator):  # noqa: F811
    db = news
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    emulator.set_faults({"next": [500]})
    outcome = _sign_up(db, settings, backend)
    # The sign-up is committed with its pending membership; the email is queued, not lost.
    assert outcome.requested and outcome.delivery.status == "queued"
    assert outcome.delivery.detail.startswith("500")
    assert subscriber_profile(db, "vic@example.org")["lists"] == {"news": "pending"}
    row = _queue_row(db, outcome.email_id)
    assert (row.status, row.attempts) == ("queued", 1) and row.last_error.startswith("500")
    assert row.next_attempt_at == outcome.delivery.next_attempt_at
    assert emulator.messages_to("vic@example.org") == []

    # Not due yet: nothing is sent before the backoff has passed.
    early = row.next_attempt_at - timedelta(seconds=1)
    assert send_due_confirmations(db, settings, backend, clock=lambda: early) == {}
    retried = send_due_confirmations(db, settings, backend, clock=_later(3600))
    assert retried == {"sent": 1}
    row = _queue_row(db, outcome.email_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert send_due_confirmations(db, settings, backend, clock=_later(7200)) == {}  # once

    [message] = emulator.messages_to("vic@example.org")
    assert message["from"] == {"email": "confirm@mindstream.example", "name": "Mindstream Medicine"}
    assert message["subject"] == "Please confirm your subscription to Mindstream Medicine"
    assert message["categories"] == ["confirmation"]
    assert message["custom_args"] == {"send_id": row.send_id}
    assert "List-Unsubscribe" not in message["headers"] and "List-Id" not in message["headers"]
    assert "Vic" in message["text"]
    token = re.search(r"/confirm/([A-Za-z0-9_.-]+)", message["text"]).group(1)
    assert confirm_subscription(db, settings, token) == "vic@example.org"
    assert subscriber_profile(db, "vic@example.org")["lists"] == {"news": "active"}


def test_sendgrid_receives_the_address_and_the_rendered_email_only(news, settings, emulator):  # noqa: F811
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    outcome = _sign_up(news, settings, backend)
    assert outcome.delivery.status == "sent"
    [record] = list(read_log(emulator.log_path))
    template = record["template"]
    assert set(template) <= {"from", "reply_to", "subject", "content", "categories",
                             "tracking_settings"}  # fmt: skip
    assert template["categories"] == ["confirmation"]
    assert all(not setting["enable"] for setting in template["tracking_settings"].values())
    [personalization] = record["personalizations"]
    assert {k for k in personalization if k not in ("sg_message_ids", "rendered")} == {
        "to", "custom_args"
    }  # fmt: skip
    send_id = personalization["custom_args"]["send_id"]
    assert set(personalization["custom_args"]) == {"send_id"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", send_id)  # random: 128 bits, nothing derived
    with news.read() as conn:  # not the link's id either: the two cannot be joined
        token_id = conn.scalar(select(confirmation_requests.c.token_id))
    assert token_id not in str(record)


def test_the_limits_stay_three_a_day_ten_minutes_apart(news, settings, emulator):  # noqa: F811
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    now = datetime.now(UTC)
    assert _sign_up(news, settings, backend, now=now).delivery.status == "sent"
    assert _sign_up(news, settings, backend, now=now + timedelta(minutes=5)).reason == (
        "rate limited"
    )
    assert _sign_up(news, settings, backend, now=now + timedelta(minutes=11)).requested
    assert _sign_up(news, settings, backend, now=now + timedelta(minutes=22)).requested
    fourth = _sign_up(news, settings, backend, now=now + timedelta(minutes=40))
    assert (fourth.requested, fourth.delivery) == (False, None)
    assert len(emulator.messages_to("vic@example.org")) == 3


def test_through_the_smtp_peer_from_the_transactional_sender(news, settings, plain):  # noqa: F811
    controller, handler = plain
    backend = SmtpBackend(controller.hostname, controller.port, tls="none")
    assert _sign_up(news, settings, backend).delivery.status == "sent"
    [received] = handler.messages
    assert received["from"] == "confirm@mindstream.example"
    assert received["to"] == ["vic@example.org"]
    message = message_from_bytes(received["raw"], policy=policy.default)
    assert message["From"] == "Mindstream Medicine <confirm@mindstream.example>"
    assert message["List-Unsubscribe"] is None and message["List-Id"] is None
    assert "/confirm/" in message.get_body(preferencelist=("plain",)).get_content()


def test_the_outbox_only_when_it_is_the_backend(news, settings, tmp_path):
    backend = OutboxBackend(tmp_path / "outbox")
    outcome = _sign_up(news, settings, backend)
    assert outcome.delivery.status == "sent"
    [path] = (tmp_path / "outbox").glob("*.eml")
    assert path.name == f"{outcome.delivery.send_id}.eml"
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "vic@example.org"


def test_a_crashed_sender_is_taken_over_after_its_lease_and_cannot_record(news, settings, emulator):  # noqa: F811
    db = news
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    outcome = _sign_up(db, settings, None)  # queued only: the web process may die right here
    now = datetime.now(UTC)
    with db.write() as conn:
        stale = confirmation_queue.claim(conn, outcome.email_id, now=now,
                                         lease=timedelta(seconds=30))  # fmt: skip
    assert stale == 1
    assert send_due_confirmations(db, settings, backend, clock=lambda: now) == {}  # leased
    later = now + timedelta(seconds=31)
    assert send_due_confirmations(db, settings, backend, clock=lambda: later) == {"sent": 1}
    with db.write() as conn:  # the crashed sender comes back: fenced out
        assert not confirmation_queue.settle(conn, outcome.email_id, stale, "failed", now=later)
    assert _queue_row(db, outcome.email_id).status == "sent"
    assert len(emulator.messages_to("vic@example.org")) == 1


def test_no_longer_wanted_emails_are_cancelled_not_sent(news, settings, emulator, key):  # noqa: F811
    db = news
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    first = _sign_up(db, settings, None, email="ann@example.org")
    confirm_subscription(db, settings, first.token)  # confirmed from another email meanwhile
    second = _sign_up(db, settings, None, email="bob@example.org")
    with db.write() as conn:
        suppress_in(
            conn,
            key=key,
            email="bob@example.org",
            reason=SuppressionReason.HARD_BOUNCE,
            source="webhook",
            now=datetime.now(UTC),
        )
    assert send_due_confirmations(db, settings, backend) == {"cancelled": 2}
    assert _queue_row(db, first.email_id).last_error == "already confirmed"
    assert _queue_row(db, second.email_id).last_error == "the address bounced or complained"
    assert emulator.stats()["accepted_requests"] == 0


def test_it_gives_up_after_a_day_and_a_permanent_refusal_fails_at_once(news, settings, emulator):  # noqa: F811
    db = news
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    emulator.set_faults({"next": [503]})
    outcome = _sign_up(db, settings, backend)
    assert outcome.delivery.status == "queued"
    emulator.set_faults({"next": [503]})
    late = _later(GIVE_UP_AFTER.total_seconds() + 60)
    assert send_confirmation(db, settings, backend, outcome.email_id, clock=late).status == (
        "failed"
    )
    assert _queue_row(db, outcome.email_id).last_error.startswith("gave up: 503")

    emulator.set_faults({"reject_regex": r"@blocked\.example$"})
    refused = _sign_up(db, settings, backend, email="x@blocked.example")
    assert refused.delivery.status == "failed" and refused.delivery.detail.startswith("400")


def test_an_erased_person_takes_their_queued_email_with_them(news, settings, key):
    from newsletter.services.privacy import erase_subscriber

    db = news
    _sign_up(db, settings, None)
    erase_subscriber(db, key=key, email="vic@example.org", source="staff:test")
    with db.read() as conn:
        assert confirmation_queue.counts(conn) == {}
