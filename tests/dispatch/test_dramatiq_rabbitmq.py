"""The same Dramatiq path with a REAL RabbitMQ broker (127.0.0.1:5672, guest/guest): a
campaign's batches go through AMQP to an in-process worker and out exactly once.

Each run has a queue of its own (NEWSLETTER_BROKER_QUEUE), deleted afterwards, so another
suite on the same broker cannot take its messages nor leak into it.
"""

from __future__ import annotations

import socket
import time
import uuid

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from newsletter.dispatch import dramatiq as dramatiq_dispatch
from newsletter.dispatch.dramatiq import DramatiqDispatcher
from newsletter.services.runner import drive
from tests.audience_db import db, db_url  # noqa: F401
from tests.dispatch.test_dramatiq import dramatiq_settings, emulator  # noqa: F401
from tests.required_services import unavailable
from tests.sending.support import add_audience, assert_invariants, context, new_campaign

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def rabbitmq(dramatiq_settings):  # noqa: F811
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        unavailable("RabbitMQ", f"not reachable on 127.0.0.1:5672: {exc}")
    queue = f"newsletter-test-{uuid.uuid4().hex[:12]}"  # its own: suites may run side by side
    settings = dramatiq_settings.model_copy(update={"broker_url": AMQP_URL, "broker_queue": queue})
    broker = dramatiq_dispatch.build_broker(settings)
    assert isinstance(broker, RabbitmqBroker)
    broker.declare_queue(queue)
    yield settings, broker
    dramatiq_dispatch.reset()
    for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):  # the queue and dramatiq's delay/dead
        broker.channel.queue_delete(name)
    broker.close()


def test_a_campaign_through_rabbitmq_is_sent_exactly_once(db, rabbitmq, emulator):  # noqa: F811
    settings, broker = rabbitmq
    audience = add_audience(db, settings, "rabbit.example", 25)
    campaign_id = new_campaign(db, settings)
    dispatcher = DramatiqDispatcher(settings, broker=broker)
    worker = dramatiq.Worker(
        broker, worker_threads=2, queues={settings.broker_queue}, worker_timeout=100
    )
    worker.start()
    try:
        deadline = time.monotonic() + 30
        status = drive(
            context(db, settings, emulator.base_url), dispatcher, campaign_id, poll_s=0.05,
            stop=lambda: time.monotonic() > deadline,
        )  # fmt: skip
    finally:
        worker.stop()
    assert status == "sent"
    state = assert_invariants(db, campaign_id, emulator.log_path, "rabbit.example", audience)
    assert state.statuses == {"accepted": 25}
    assert emulator.stats()["accepted_requests"] == 3  # batches of 10: one request each
