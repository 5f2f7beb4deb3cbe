"""Batches through Dramatiq with a REAL Redis broker and an in-process worker.

Each test gets its own Redis namespace (keys `newsletter-test-<hex>:*` in Redis db 9) and
deletes it afterwards, so parallel runs and other users of the Redis server are untouched.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.dispatch import dramatiq as dramatiq_dispatch
from newsletter.dispatch.dramatiq import QUEUE, DramatiqDispatcher
from newsletter.emulator import EmulatorConfig, run_emulator
from newsletter.services import recovery
from newsletter.services.runner import drive
from newsletter.storage.sending_tables import send_batches
from tests.audience_db import db, db_url  # noqa: F401
from tests.required_services import unavailable
from tests.seed import REPO
from tests.sending.support import (
    KEY,
    accepted_in_log,
    add_audience,
    assert_invariants,
    context,
    new_campaign,
)

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def emulator(tmp_path):
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        yield emu


@pytest.fixture
def dramatiq_settings(monkeypatch, db_url, emulator):  # noqa: F811
    """What a worker process would load: the same database and provider as the engine."""
    for name, value in {
        "AUDIENCES_DIR": str(REPO / "audiences"),
        "PUBLIC_URL": "https://news.mindstream.example",
        "BATCH_SIZE": "10",
        "RETRY_BASE_S": "0.01",
        "RETRY_CAP_S": "0.05",
        "LEASE_SECONDS": "10",
        "SENDGRID_TIMEOUT": "5",  # lease > timeout + margin
        "SEND_SAFETY_MARGIN_S": "1",
        "WEBHOOK_GRACE_S": "0.5",
        "DATABASE_URL": db_url,
        "DELIVERY": "sendgrid",
        "SENDGRID_API_KEY": KEY,
        "SENDGRID_BASE_URL": emulator.base_url,
        "DISPATCHER": "dramatiq",
        "BROKER_URL": REDIS_URL,
    }.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    return load_settings()


@pytest.fixture
def broker(dramatiq_settings):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unavailable("Redis", f"not reachable at {REDIS_URL}: {exc}")
    namespace = f"newsletter-test-{uuid.uuid4().hex[:12]}"
    made = dramatiq_dispatch.build_broker(dramatiq_settings, namespace=namespace)
    assert isinstance(made, RedisBroker)
    yield made
    dramatiq_dispatch.reset()  # closes the worker's database
    made.close()
    keys = list(client.scan_iter(match=f"{namespace}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def worker(broker):
    running = dramatiq.Worker(broker, worker_threads=2, queues={QUEUE}, worker_timeout=100)
    yield running
    running.stop()


def test_the_actor_is_declared_lazily_with_a_time_limit_below_the_lease(dramatiq_settings, broker):
    dispatcher = DramatiqDispatcher(dramatiq_settings, broker=broker)
    actor = broker.get_actor(dramatiq_dispatch.ACTOR_NAME)
    assert actor.queue_name == QUEUE
    assert actor.options["time_limit"] == 8000 < dramatiq_settings.lease_seconds * 1000
    assert actor.options["max_retries"] == dramatiq_dispatch.MAX_RETRIES
    assert dramatiq.get_broker() is broker
    assert dispatcher.idle()


def test_a_campaign_dispatched_through_dramatiq_is_sent_exactly_once(
    db,  # noqa: F811
    dramatiq_settings,
    broker,
    worker,
    emulator,
):
    audience = add_audience(db, dramatiq_settings, "dramatiq.example", 35)
    campaign_id = new_campaign(db, dramatiq_settings)
    dispatcher = DramatiqDispatcher(dramatiq_settings, broker=broker)
    worker.start()
    deadline = time.monotonic() + 20
    ctx = context(db, dramatiq_settings, emulator.base_url)
    status = drive(
        ctx, dispatcher, campaign_id, poll_s=0.05, stop=lambda: time.monotonic() > deadline
    )
    assert status == "sent"
    state = assert_invariants(db, campaign_id, emulator.log_path, "dramatiq.example", audience)
    assert state.statuses == {"accepted": 35}
    assert emulator.stats()["accepted_requests"] == 4


def test_a_duplicated_message_for_one_batch_makes_one_provider_request(
    db,  # noqa: F811
    dramatiq_settings,
    broker,
    worker,
    emulator,
):
    audience = add_audience(db, dramatiq_settings, "twice.example", 6)
    campaign_id = new_campaign(db, dramatiq_settings)
    assert recovery.start_due(db, dramatiq_settings.audiences_dir, now=datetime.now(UTC)) == [
        campaign_id
    ]
    with db.read() as conn:
        (batch_id,) = conn.scalars(
            select(send_batches.c.id).where(send_batches.c.campaign_id == campaign_id)
        ).all()

    dispatcher = DramatiqDispatcher(dramatiq_settings, broker=broker)
    dispatcher.submit(batch_id)
    dispatcher.submit(batch_id)  # a redelivery, or two engines' ticks: same batch, twice
    worker.start()  # both messages are waiting: the two worker threads race for the claim
    broker.join(QUEUE, timeout=15_000)
    worker.join()

    assert emulator.stats()["accepted_requests"] == 1
    assert set(accepted_in_log(emulator.log_path, "twice.example").values()) == {1}
    with db.read() as conn:
        assert conn.scalar(select(send_batches.c.status).where(send_batches.c.id == batch_id)) == (
            "accepted"
        )
    assert recovery.finish_campaigns(db, now=datetime.now(UTC)) == [(campaign_id, "sent")]
    assert_invariants(db, campaign_id, emulator.log_path, "twice.example", audience)


def test_the_worker_command_runs_dramatiq_workers_that_send_the_batches(
    db,  # noqa: F811
    dramatiq_settings,
    emulator,
    monkeypatch,
):
    """`newsletter worker` → the dramatiq CLI → `setup_broker` in a separate process."""
    url = "redis://127.0.0.1:6379/10"  # the default namespace, so a db of its own…
    queue = f"newsletter-test-{uuid.uuid4().hex[:12]}"  # …and a queue: suites run side by side
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unavailable("Redis", f"not reachable at {url}: {exc}")
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", url)
    monkeypatch.setenv("NEWSLETTER_BROKER_QUEUE", queue)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("COLUMNS", "200")
    settings = load_settings()
    audience = add_audience(db, settings, "cli-worker.example", 15)
    campaign_id = new_campaign(db, settings)
    command = [
        sys.executable,
        "-c",
        "from newsletter.cli import main; main()",
        "worker",
        "--threads",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    dispatcher = DramatiqDispatcher(settings)
    try:
        deadline = time.monotonic() + 30
        ctx = context(db, settings, emulator.base_url)
        status = drive(
            ctx, dispatcher, campaign_id, poll_s=0.1, stop=lambda: time.monotonic() > deadline
        )
        assert status == "sent"
        assert_invariants(db, campaign_id, emulator.log_path, "cli-worker.example", audience)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        dispatcher.broker.close()
        dramatiq_dispatch.reset()
        keys = list(client.scan_iter(match=f"dramatiq:*{queue}*"))  # ours alone
        if keys:
            client.delete(*keys)
        client.close()
    assert "Dramatiq worker: 1 process(es) × 2 thread(s)" in out.decode()


def test_a_dramatiq_worker_process_is_an_executor(
    db,  # noqa: F811
    dramatiq_settings,
    broker,
    worker,
    emulator,
):
    """The worker registers on its first message; its executor name owns the leases (so the
    engine can prove it dead), and a clean shutdown unregisters it."""
    from newsletter.storage.executors import executors
    from newsletter.storage.sending_tables import send_attempts

    add_audience(db, dramatiq_settings, "exec.example", 20)
    campaign_id = new_campaign(db, dramatiq_settings)
    dispatcher = DramatiqDispatcher(dramatiq_settings, broker=broker)
    worker.start()
    deadline = time.monotonic() + 20
    ctx = context(db, dramatiq_settings, emulator.base_url)
    status = drive(
        ctx, dispatcher, campaign_id, poll_s=0.05, stop=lambda: time.monotonic() > deadline
    )
    assert status == "sent"
    with db.read() as conn:
        rows = conn.execute(select(executors.c.name, executors.c.kind)).all()
        owners = set(conn.scalars(select(send_attempts.c.worker)))
    assert [kind for _, kind in rows] == ["worker"]
    assert owners == {rows[0].name}
    dramatiq_dispatch.reset()
    with db.read() as conn:
        assert conn.execute(select(executors.c.name)).all() == []
