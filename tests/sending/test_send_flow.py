"""Campaign sends through the real `sendgrid` client to the emulator over HTTP."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select

from newsletter import tokens
from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.domain.subscribers import SuppressionReason
from newsletter.emulator import read_log
from newsletter.rendering.placeholders import TAGS
from newsletter.services import campaigns as service
from newsletter.services.runner import drive
from newsletter.services.send_batch import send_batch
from newsletter.services.suppressions import suppress_in
from newsletter.storage.sending_tables import deliveries, send_attempts, send_batches
from tests.sending.support import (
    accepted_in_log,
    add_audience,
    assert_invariants,
    context,
    ledger,
    new_campaign,
)


def run(ctx, campaign_id, threads=3, **kwargs):
    pool = ThreadPoolDispatcher(ctx, threads=threads, worker_id="test-worker")
    try:
        return drive(ctx, pool, campaign_id, poll_s=0.02, **kwargs)
    finally:
        pool.close()


def _wait_for_first_acceptance(emulator, timeout=20.0):
    deadline = time.monotonic() + timeout
    while emulator.stats()["accepted_requests"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_campaign_reaches_everyone_exactly_once(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "happy.example", 35)
    campaign_id = new_campaign(db, send_settings)
    assert run(context(db, send_settings, emulator.base_url), campaign_id) == "sent"
    state = assert_invariants(db, campaign_id, emulator.log_path, "happy.example", audience)
    assert state.statuses == {"accepted": 35}
    assert emulator.stats()["accepted_requests"] == 4  # batches of 10

    message = emulator.messages_to(audience[0])[0]
    assert "Hi Pat," in message["text"]
    assert message["subject"] == "The Role of Neuroplasticity in Mental Health: How Ketamine Helps"
    unsubscribe = message["headers"]["List-Unsubscribe"]
    token = re.match(r"<https://news\.mindstream\.example/u/(.+)>$", unsubscribe).group(1)
    assert tokens.verify("unsubscribe", token, keys=send_settings.signing_keys)
    assert f"/u/{token}" in message["html"]


def test_payloads_carry_nothing_but_the_address_and_the_email(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "privacy.example", 12, first_name="Sam")
    campaign_id = new_campaign(db, send_settings)
    run(context(db, send_settings, emulator.base_url), campaign_id)
    records = list(read_log(emulator.log_path))
    assert records
    for record in records:
        template = record["template"]
        assert template["categories"] == ["newsletter"]
        assert all(not v["enable"] for v in template["tracking_settings"].values())
        assert set(template["headers"]) == {"List-Id"}
        assert "everyone" not in str(template) and "everyone" not in str(record)
        for personalization in record["personalizations"]:
            assert set(personalization["custom_args"]) == {"send_id"}
            assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", personalization["custom_args"]["send_id"])
            assert set(personalization["headers"]) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
            subs = personalization["substitutions"]
            # Only URL tokens and the first name (click tracking is on by default).
            assert set(subs) == set(TAGS)
            assert subs["-nl_fn_html-"] == subs["-nl_fn_text-"] == "Sam"
            for tag in ("-nl_ut-", "-nl_rt-", "-nl_pt-"):
                assert re.fullmatch(r"a[A-Za-z0-9_-]{40,}", subs[tag])
            assert len({subs["-nl_ut-"], subs["-nl_rt-"], subs["-nl_pt-"]}) == 3
            address = personalization["to"][0]["email"]
            assert address not in str(personalization["headers"])
    assert len(accepted_in_log(emulator.log_path, "privacy.example")) == len(audience)


def test_concurrent_send_batch_on_one_batch_makes_one_request(db, send_settings, emulator):
    add_audience(db, send_settings, "race.example", 10)
    campaign_id = new_campaign(db, send_settings)
    from newsletter.services.recovery import start_due

    start_due(db, send_settings.audiences_dir, now=datetime.now(UTC))
    with db.read() as conn:
        batch_id = conn.scalar(
            select(send_batches.c.id).where(send_batches.c.campaign_id == campaign_id)
        )
    ctx = context(db, send_settings, emulator.base_url)
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(send_batch(ctx, batch_id, worker=f"w{i}"))
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count("accepted") == 1
    assert results.count("not-claimed") == 3
    assert emulator.stats()["accepted_requests"] == 1


def test_unsubscribe_between_freeze_and_send_is_skipped(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "late.example", 25)
    campaign_id = new_campaign(db, send_settings)
    from newsletter.services.recovery import start_due

    start_due(db, send_settings.audiences_dir, now=datetime.now(UTC))  # audience frozen
    leaver = audience[17]
    with db.write() as conn:
        suppress_in(
            conn,
            key=send_settings.signing_keys["a"],
            email=leaver,
            reason=SuppressionReason.UNSUBSCRIBE_ONE_CLICK,
            source="test",
            now=datetime.now(UTC),
        )
    assert run(context(db, send_settings, emulator.base_url), campaign_id) == "sent"
    state = assert_invariants(db, campaign_id, emulator.log_path, "late.example", audience)
    assert state.statuses == {"accepted": 24, "skipped": 1}
    assert emulator.messages_to(leaver) == []


def test_pause_stops_claims_and_resume_finishes(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "pause.example", 60)
    campaign_id = new_campaign(db, send_settings)
    emulator.set_faults({"latency_ms": 150})
    ctx = context(db, send_settings, emulator.base_url)
    paused = threading.Event()

    def pause_soon():
        _wait_for_first_acceptance(emulator)
        service.pause(db, campaign_id)
        paused.set()

    threading.Thread(target=pause_soon).start()
    assert run(ctx, campaign_id, threads=1) == "paused"
    assert paused.is_set()
    requests_at_pause = emulator.stats()["accepted_requests"]
    assert 0 < requests_at_pause < 6
    time.sleep(0.3)
    assert emulator.stats()["accepted_requests"] == requests_at_pause  # no claim after pause
    emulator.set_faults({})
    service.resume(db, campaign_id)
    assert run(ctx, campaign_id) == "sent"
    assert_invariants(db, campaign_id, emulator.log_path, "pause.example", audience)


def test_cancel_mid_send_cancels_the_rest(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "cancel.example", 50)
    campaign_id = new_campaign(db, send_settings)
    emulator.set_faults({"latency_ms": 120})
    ctx = context(db, send_settings, emulator.base_url)

    def cancel_soon():
        _wait_for_first_acceptance(emulator)
        service.cancel(db, campaign_id, now=datetime.now(UTC))

    threading.Thread(target=cancel_soon).start()
    assert run(ctx, campaign_id, threads=1) == "cancelled"
    state = assert_invariants(db, campaign_id, emulator.log_path, "cancel.example", audience)
    assert state.statuses["cancelled"] > 0
    assert state.statuses["accepted"] + state.statuses["cancelled"] == 50


def test_a_rejected_address_is_isolated_and_failed_alone(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "bisect.example", 10)
    bad = audience[6]
    emulator.set_faults({"reject_regex": re.escape(bad) + "$"})
    campaign_id = new_campaign(db, send_settings)
    assert run(context(db, send_settings, emulator.base_url), campaign_id) == "sent_with_errors"
    state = assert_invariants(db, campaign_id, emulator.log_path, "bisect.example", audience)
    assert state.statuses == {"accepted": 9, "failed": 1}
    with db.read() as conn:
        failed = conn.execute(
            select(deliveries.c.last_error).where(deliveries.c.status == "failed")
        ).scalar_one()
    assert failed == (
        '400 {"errors":[{"message":"Does not contain a valid address.",'
        '"field":"personalizations.0.to.0.email","help":null}]}'
    )
    # The 400 names the culprit: it goes alone and the nine others together, no bisection.
    stats = emulator.stats()
    assert (stats["requests"], stats["rejected_by_status"], stats["accepted_recipients"]) == (
        3,
        {"400": 2},
        9,
    )


def test_rejected_key_pauses_and_nobody_is_lost_once_fixed(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "key.example", 30)
    campaign_id = new_campaign(db, send_settings)
    emulator.set_faults({"next": [401]})
    ctx = context(db, send_settings, emulator.base_url)
    assert run(ctx, campaign_id, threads=1) == "paused"
    report = service.report(db, campaign_id)
    assert "401" in report.pause_reason
    service.resume(db, campaign_id)
    assert run(ctx, campaign_id) == "sent"
    assert_invariants(db, campaign_id, emulator.log_path, "key.example", audience)


def test_rate_limits_are_honoured_and_the_send_converges(db, send_settings, emulator):
    audience = add_audience(db, send_settings, "rate.example", 30)
    campaign_id = new_campaign(db, send_settings)
    emulator.set_faults(
        {"next": [{"status": 429, "reset_in": 1, "retry_after": 1, "count": 2}, 503]}
    )
    started = time.monotonic()
    assert run(context(db, send_settings, emulator.base_url), campaign_id) == "sent"
    assert time.monotonic() - started >= 0.9  # waited for the reset, not the tiny backoff
    assert_invariants(db, campaign_id, emulator.log_path, "rate.example", audience)
    with db.read() as conn:
        retried = conn.scalars(select(send_attempts.c.outcome)).all()
    assert retried.count("retry") >= 3


def test_timeout_after_accept_is_never_resent_blindly(db, send_settings, emulator):
    """Without a webhook (policy hold), an uncertain batch waits for a person."""
    audience = add_audience(db, send_settings, "unknown.example", 20)
    campaign_id = new_campaign(db, send_settings)
    emulator.set_faults({"next": ["timeout_after_accept"], "timeout_sleep_s": 1.0})
    ctx = context(db, send_settings, emulator.base_url, timeout=0.4)
    assert run(ctx, campaign_id) == "needs_review"
    state = ledger(db, campaign_id)
    assert state.statuses == {"accepted": 10, "needs_review": 10}
    sent = accepted_in_log(emulator.log_path, "unknown.example")
    assert len(sent) == 20 and max(sent.values()) == 1  # the emulator got it once; not resent
    assert len(audience) == 20
