"""POST /webhooks/sendgrid through the real ASGI stack: signature, freshness, limits (W-xx)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.services.tracking import ingest
from newsletter.storage.sending_tables import provider_events, webhook_inbox
from tests.web.support import (
    NOW,
    NOW_TS,
    Signer,
    body_of,
    delivery_row,
    event,
    seed_delivery,
    subscriber_status,
    suppression_of,
)

URL = "/webhooks/sendgrid"
VECTOR = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "sendgrid" / "webhook-test-vector.json")
    .read_text()
)  # fmt: skip
SIG_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TS_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def rows(db, table=webhook_inbox) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def vector_headers() -> dict[str, str]:
    return {SIG_HEADER: VECTOR["signature"], TS_HEADER: VECTOR["timestamp"],
            "Content-Type": "application/json"}  # fmt: skip


def test_official_vector_verifies_but_is_stale_today(make_app):
    app, db = make_app(clock=None, sendgrid_webhook_public_key=VECTOR["public_key"])
    payload = base64.b64decode(VECTOR["payload_base64"])
    with TestClient(app) as client:
        response = client.post(URL, content=payload, headers=vector_headers())
    assert response.status_code == 403
    assert app.state.webhook_stats["stale_timestamp"] == 1
    assert app.state.webhook_stats["bad_signature"] == 0  # the signature itself was good
    assert rows(db) == 0


def test_official_vector_is_accepted_and_applied_at_its_own_time(make_app):
    clock = lambda: int(VECTOR["timestamp"]) + 10  # noqa: E731
    app, db = make_app(clock=clock, sendgrid_webhook_public_key=VECTOR["public_key"])
    payload = base64.b64decode(VECTOR["payload_base64"])
    with TestClient(app) as client:
        response = client.post(URL, content=payload, headers=vector_headers())
        assert response.status_code == 200, response.text
        assert response.json()["events"] == 1
        # A wrong key, or the payload without its CR LF, fails (the official negatives).
        stripped = client.post(URL, content=payload[:-2], headers=vector_headers())
        assert stripped.status_code == 403
    assert rows(db) == 1 and rows(db, provider_events) == 1
    assert suppression_of(db, "hello@world.com") == "hard_bounce"  # dropped: Bounced Address


def test_no_key_configured_answers_503(make_app, signer):
    app, db = make_app(sendgrid_webhook_public_key=None)
    body = body_of(event("delivered", "a@example.org"))
    with TestClient(app) as client:
        response = client.post(URL, content=body, headers=signer.headers(body))
    assert response.status_code == 503
    assert "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY" in response.json()["message"]
    assert rows(db) == 0


def _bad_signatures(signer: Signer, body: bytes) -> dict[str, dict[str, str]]:
    good = signer.headers(body)
    other = Signer(scalar=987654321).headers(body)
    der_garbage = base64.b64encode(b"\x01" * 70).decode()
    return {
        "missing signature": {TS_HEADER: good[TS_HEADER]},
        "missing timestamp": {SIG_HEADER: good[SIG_HEADER]},
        "wrong key": other,
        "truncated": {**good, SIG_HEADER: good[SIG_HEADER][:-8]},
        "not base64": {**good, SIG_HEADER: "!!not*base64!!"},
        "not DER": {**good, SIG_HEADER: der_garbage},
        "empty": {**good, SIG_HEADER: ""},
        "timestamp changed": {**good, TS_HEADER: str(NOW_TS - 1)},
        "official wrong signature": {**good, SIG_HEADER: VECTOR["wrong_signature"]},
    }


@pytest.mark.parametrize("case", list(_bad_signatures(Signer(), b"x")))
def test_bad_signatures_are_rejected_and_nothing_is_stored(client, db, signer, case):  # W-02
    body = body_of(event("spamreport", "a@example.org"))
    response = client.post(URL, content=body, headers=_bad_signatures(signer, body)[case])
    assert response.status_code == 403
    assert client.app.state.webhook_stats["bad_signature"] == 1
    assert rows(db) == 0 and suppression_of(db, "a@example.org") is None


def test_changed_or_reserialised_bodies_are_rejected(client, db, signer):  # W-03
    events = [event("spamreport", "a@example.org")]
    body = body_of(*events)
    headers = signer.headers(body)
    for i in (0, len(body) // 2, len(body) - 1):
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert client.post(URL, content=changed, headers=headers).status_code == 403
    pretty = json.dumps(events, indent=1).encode()
    assert client.post(URL, content=pretty, headers=headers).status_code == 403
    assert rows(db) == 0


@pytest.mark.parametrize(
    ("offset", "status", "counter"),
    [
        (+600, 403, "future_timestamp"),
        (-26 * 3600, 403, "stale_timestamp"),
        (+240, 200, "accepted"),
        (-24 * 3600, 200, "accepted"),
    ],
)
def test_timestamp_window(client, db, signer, offset, status, counter):  # W-04
    body = body_of(event("delivered", "a@example.org"))
    response = client.post(URL, content=body, headers=signer.headers(body, NOW_TS + offset))
    assert response.status_code == status
    assert client.app.state.webhook_stats[counter] == 1
    assert rows(db) == (1 if status == 200 else 0)


def test_same_post_ten_times_is_applied_once(client, db, signer):  # W-05
    s = seed_delivery(db, "ana@example.org")
    body = body_of(event("processed", s.email, NOW_TS - 9, s.send_id),
                   event("bounce", s.email, NOW_TS - 8, s.send_id, type="bounce"))  # fmt: skip
    for _ in range(10):
        assert client.post(URL, content=body, headers=signer.headers(body)).status_code == 200
    assert rows(db) == 10 and rows(db, provider_events) == 2
    assert suppression_of(db, s.email) == "hard_bounce"
    assert subscriber_status(db, s.email) == "bounced"
    assert delivery_row(db, s.delivery_id).processed_at == NOW - timedelta(seconds=9)


def test_a_batch_of_1000_mixed_events_is_stored_and_applied_quickly(client, db, signer):  # W-01
    seeded = [seed_delivery(db, f"u{i}@example.org") for i in range(100)]
    kinds = ["processed", "delivered", "deferred", "bounce", "dropped", "open", "spamreport"]
    events = [
        event(kinds[i % 7], seeded[i % 100].email, NOW_TS - 60, seeded[i % 100].send_id,
              sg_message_id=f"M{i}.r", type="blocked", reason="Spam Content")
        for i in range(1000)
    ]  # fmt: skip
    body = body_of(*events)
    started = time.perf_counter()
    response = client.post(URL, content=body, headers=signer.headers(body))
    elapsed = time.perf_counter() - started  # the test client also waits for the processing
    assert response.status_code == 200 and response.json()["events"] == 1000
    assert rows(db, provider_events) == 1000
    assert suppression_of(db, seeded[6].email) == "complaint"
    assert elapsed < 5, f"{elapsed:.2f} s for 1000 events"  # ~0.5 s on a laptop


def test_oversized_bodies_get_413(client, db, signer):  # W-10
    big = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    response = client.post(URL, content=big, headers=signer.headers(big))
    assert response.status_code == 413

    def chunks():  # no Content-Length: the cap holds while streaming
        for _ in range(11):
            yield b" " * (1024 * 1024)

    streamed = client.post(URL, content=chunks(), headers=signer.headers(b"x"))
    assert streamed.status_code == 413
    assert rows(db) == 0


@pytest.mark.parametrize("body", [b"{not json", b'{"event":"delivered"}', b"", b"\xff\xfe",
                                  b"null", b'"text"', b"[" * 100_000])  # fmt: skip
def test_malformed_or_non_list_bodies_get_400(client, db, signer, body):  # W-10
    response = client.post(URL, content=body, headers=signer.headers(body))
    assert response.status_code == 400
    assert rows(db) == 0


def test_unknown_event_types_are_stored_and_acknowledged(client, db, signer):  # W-11
    body = body_of(event("shiny_new_thing", "a@example.org"), "junk-entry")  # type: ignore[arg-type]
    response = client.post(URL, content=body, headers=signer.headers(body))
    assert response.status_code == 200
    with db.read() as conn:
        assert conn.execute(select(provider_events.c.event, provider_events.c.applied)).all() == [
            ("shiny_new_thing", False)
        ]
        assert conn.scalar(select(webhook_inbox.c.processed_at)) is not None


def test_a_stored_but_unprocessed_batch_is_processed_on_start_up(make_app):  # W-09
    app, db = make_app()
    s = seed_delivery(db, "ana@example.org")
    with db.write() as conn:  # the server died right after the inbox insert
        ingest(conn, body_of(event("spamreport", s.email, NOW_TS - 5, s.send_id)), NOW)
    assert suppression_of(db, s.email) is None
    with TestClient(app):
        pass
    assert suppression_of(db, s.email) == "complaint"


def test_get_is_not_allowed_and_errors_carry_no_traceback(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert "Traceback" not in response.text
