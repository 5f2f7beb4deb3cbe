"""End to end: the app under a real uvicorn server on loopback receives the SendGrid
emulator's signed, duplicated, shuffled event posts for a real Mail Send request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import func, select

from newsletter.emulator import EmulatorConfig, run_emulator
from newsletter.emulator.testing import client_for, make_mail
from newsletter.storage.sending_tables import provider_events
from tests.claim_probe import claimable
from tests.web.support import delivery_row, seed_delivery, suppression_of


@pytest.fixture
def emulator(tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    with run_emulator(EmulatorConfig(log_path=tmp_path / "accepted.jsonl")) as handle:
        yield handle


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, int]:  # type: ignore[no-untyped-def]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, thread, port


def _wait(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_signed_events_from_the_emulator_reach_the_ledger(make_app, emulator, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    app, db = make_app(clock=None, sendgrid_webhook_public_key=emulator.public_key)
    ana = seed_delivery(db, "ana@example.org")
    bo = seed_delivery(db, "bounce+bo@example.org")
    server, thread, port = _serve(app)
    try:
        emulator.set_webhook_url(f"http://127.0.0.1:{port}/webhooks/sendgrid")
        emulator.set_faults(webhook={"duplicate_factor": 3, "shuffle": True,
                                     "new_event_id_on_retry": True})  # fmt: skip
        mail = make_mail(ana.email, bo.email)
        for personalization, seeded in zip(mail["personalizations"], (ana, bo), strict=True):
            personalization["custom_args"] = {"send_id": seeded.send_id}
        response = client_for(emulator).send(mail)
        assert response.status_code == 202

        def settled() -> bool:
            emulator.flush_webhook()
            return (
                delivery_row(db, ana.delivery_id).delivered_at is not None
                and suppression_of(db, bo.email) == "hard_bounce"
            )

        assert _wait(settled), emulator.deliveries()[-3:]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert all(d["status"] == 200 for d in emulator.deliveries() if not d["dropped"])
    ana_row = delivery_row(db, ana.delivery_id)
    assert ana_row.processed_at is not None and ana_row.processed_at <= ana_row.delivered_at
    assert delivery_row(db, bo.delivery_id).bounce_type == "bounce"
    assert claimable(db, [ana.subscriber_id, bo.subscriber_id]) == {ana.subscriber_id}
    with db.read() as conn:  # 3 copies of each of the 4 events, stored once each
        assert conn.scalar(select(func.count()).select_from(provider_events)) == 4
    assert app.state.webhook_stats["bad_signature"] == 0
