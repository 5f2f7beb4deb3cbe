"""The engine: APScheduler as a clock, recovery first, exactly one engine per database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.config import load_settings
from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.domain.send_time import describe
from newsletter.emulator import EmulatorConfig, run_emulator
from newsletter.engine import Engine, EngineAlreadyRunning
from newsletter.services.campaign_schedule import schedule
from newsletter.services.campaigns import create_campaign
from newsletter.storage import batch_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches
from tests.audience_db import db, db_url  # noqa: F401
from tests.seed import REPO, SEED_TEXT
from tests.sending.support import add_audience, assert_invariants, context, new_campaign


@pytest.fixture
def engine_env(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_AUDIENCES_DIR", str(REPO / "audiences"))
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.mindstream.example")
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "10")
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_S", "0.01")
    monkeypatch.setenv("NEWSLETTER_RETRY_CAP_S", "0.05")
    monkeypatch.setenv("NEWSLETTER_LEASE_SECONDS", "2")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "1")  # lease > timeout + margin
    monkeypatch.setenv("NEWSLETTER_SEND_SAFETY_MARGIN_S", "0.25")
    monkeypatch.setenv("NEWSLETTER_WEBHOOK_GRACE_S", "0.5")

    def settings(**env: str):
        for name, value in env.items():
            monkeypatch.setenv(f"NEWSLETTER_{name.upper()}", value)
        return load_settings()

    return settings


@pytest.fixture
def emulator(tmp_path):
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        yield emu


class Engines:
    """Builds engines on fresh Database objects (as separate processes would) and stops them."""

    def __init__(self, url: str, base_url: str):
        self.db_url = url
        self.base_url = base_url
        self.running: list[Engine] = []
        self.databases: list[Database] = []
        self.messages: list[str] = []

    def new(self, settings, dispatcher=None) -> Engine:
        database = Database.from_url(self.db_url)
        self.databases.append(database)
        ctx = context(database, settings, self.base_url)
        pool = dispatcher or ThreadPoolDispatcher(ctx, threads=3, worker_id="engine-test")
        return Engine(settings, database, ctx, pool, report=self.messages.append)

    def start(self, engine: Engine) -> Engine:
        engine.start()
        self.running.append(engine)
        return engine

    def stop(self, engine: Engine) -> None:
        self.running.remove(engine)
        engine.stop()

    def close(self) -> None:
        for engine in reversed(self.running):
            engine.stop()
        for database in self.databases:
            database.close()


@pytest.fixture
def engines(db_url, emulator):  # noqa: F811
    made = Engines(db_url, emulator.base_url)
    yield made
    made.close()


class BlackHole:
    """A dispatcher that loses every message, like an engine that crashed right after dispatch."""

    def __init__(self):
        self.submitted: list[int] = []

    def submit(self, batch_id: int) -> None:
        self.submitted.append(batch_id)

    def idle(self) -> bool:
        return True

    def check(self) -> None:
        return None

    def close(self) -> None:
        return None


def _campaign(db, settings) -> int:  # noqa: F811
    return create_campaign(db, settings, articles=[SEED_TEXT], segment="everyone")


def _row(db, campaign_id):  # noqa: F811
    with db.read() as conn:
        return conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_campaign_scheduled_while_the_engine_runs_starts_on_time_and_is_sent(
    db,  # noqa: F811
    engine_env,
    engines,
    emulator,
):
    settings = engine_env(tick_seconds="0.3")
    audience = add_audience(db, settings, "ontime.example", 25)
    engine = engines.start(engines.new(settings))
    campaign_id = _campaign(db, settings)
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    schedule(db, settings, campaign_id, at=at)
    _wait_for(
        lambda: f"campaign-{campaign_id}" in {job["id"] for job in engine.jobs()},
        3,
        "the campaign's DateTrigger job (refreshed each tick)",
    )
    _wait_for(lambda: _row(db, campaign_id).status == "sent", 15, "the campaign to be sent")
    row = _row(db, campaign_id)
    assert at <= row.started_at < at + timedelta(seconds=1), "started early or late"
    assert_invariants(db, campaign_id, emulator.log_path, "ontime.example", audience)
    assert f"Campaign {campaign_id} finished: sent." in engines.messages
    due = describe(row.scheduled_at, "America/New_York")  # the clinic's default zone
    assert f"Campaign {campaign_id} started on time: due {due}." in engines.messages


def test_the_date_trigger_alone_starts_a_campaign_on_time_and_recovery_finishes_it(
    db,  # noqa: F811
    engine_env,
    engines,
    emulator,
):
    """With an hour between ticks only the campaign's own DateTrigger can start it; a restarted
    engine's synchronous recovery tick then settles it before the clock even starts."""
    settings = engine_env(tick_seconds="3600")
    audience = add_audience(db, settings, "datetrigger.example", 25)
    campaign_id = _campaign(db, settings)
    at = datetime.now(UTC) + timedelta(seconds=1.2)
    schedule(db, settings, campaign_id, at=at)
    engine = engines.start(engines.new(settings))  # jobs rebuilt from the table at start
    assert {job["id"] for job in engine.jobs()} == {"tick", f"campaign-{campaign_id}"}
    _wait_for(lambda: _row(db, campaign_id).status != "scheduled", 5, "the campaign to start")
    row = _row(db, campaign_id)
    assert at <= row.started_at < at + timedelta(seconds=1)
    _wait_for(lambda: emulator.stats()["accepted_requests"] == 3, 10, "three batches")
    engines.stop(engine)  # waits for the in-flight batches
    assert _row(db, campaign_id).status == "sending"  # nothing finishes it until a tick

    engines.start(engines.new(settings))
    assert _row(db, campaign_id).status == "sent"  # recovery tick, synchronously, in start()
    assert_invariants(db, campaign_id, emulator.log_path, "datetrigger.example", audience)


def test_a_campaign_past_its_late_send_window_is_missed_never_sent(
    db,  # noqa: F811
    engine_env,
    engines,
    emulator,
):
    settings = engine_env(tick_seconds="0.3", late_send_window_s="600")
    audience = add_audience(db, settings, "late.example", 12)
    # Both were scheduled in time, then the engine was down while their time passed.
    stale = _campaign(db, settings)
    due = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 in New York
    schedule(db, settings, stale, at=due, now=due - timedelta(days=1))
    late_but_fine = _campaign(db, settings)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    schedule(db, settings, late_but_fine, at=soon, time_zone_name="Europe/Paris")
    with db.write() as conn:  # the engine was down while both fell due
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == late_but_fine)
            .values(scheduled_at=soon - timedelta(seconds=210))  # 3 min ago
        )

    engines.start(engines.new(settings))
    row = _row(db, stale)
    assert row.status == "missed"
    assert "late-send window" in row.pause_reason
    # The engine says so: the miss with the due time in the campaign's zone and UTC, and the
    # late start of the other one.
    missed = [m for m in engines.messages if m.startswith(f"Campaign {stale} missed")]
    assert missed == [
        f"Campaign {stale} missed: due 2026-11-20 09:00 EST (America/New_York) = 14:00 UTC, "
        + missed[0].split("UTC, ", 1)[1]
    ]
    assert missed[0].endswith("late, past its 10 min late-send window; it will not be sent.")
    late = [m for m in engines.messages if m.startswith(f"Campaign {late_but_fine} started")]
    assert len(late) == 1 and late[0].startswith(f"Campaign {late_but_fine} started late: due ")
    assert "(Europe/Paris)" in late[0] and "started 3 min late" in late[0]
    assert late[0].endswith("(within its 10 min late-send window).")
    with db.read() as conn:
        assert not conn.scalar(select(deliveries.c.id).where(deliveries.c.campaign_id == stale))
    _wait_for(lambda: _row(db, late_but_fine).status == "sent", 15, "the other campaign")
    assert_invariants(db, late_but_fine, emulator.log_path, "late.example", audience)
    assert (
        emulator.stats()["accepted_requests"] == 2
    )  # only the campaign within its window: 12 recipients, batches of 10


def test_a_second_engine_on_the_same_database_refuses_to_start(db, engine_env, engines):  # noqa: F811
    settings = engine_env(tick_seconds="3600")
    first = engines.start(engines.new(settings))
    if db.dialect == "sqlite":
        lock = Path(db.engine.url.database + ".engine.lock")
        assert lock.exists()
    second = engines.new(settings)
    with pytest.raises(EngineAlreadyRunning, match="another engine is already running") as err:
        second.start()
    assert "newsletter engine" in str(err.value)  # the message says what to do
    assert not second.running

    engines.stop(first)  # released: now the other one may take over
    engines.start(second)
    assert second.running


def test_an_engine_restarted_mid_campaign_recovers_first_then_finishes(
    db,  # noqa: F811
    engine_env,
    engines,
    emulator,
):
    settings = engine_env(tick_seconds="0.3")
    audience = add_audience(db, settings, "restart.example", 35)
    campaign_id = new_campaign(db, settings)  # due now

    lost = BlackHole()
    crashed = engines.start(engines.new(settings, dispatcher=lost))
    _wait_for(lambda: len(set(lost.submitted)) == 4, 5, "four dispatched batches")
    engines.stop(crashed)
    assert _row(db, campaign_id).status == "sending"
    assert emulator.stats()["accepted_requests"] == 0

    # The crash happened a while ago; one batch was even claimed by a worker that died.
    past = datetime.now(UTC) - timedelta(minutes=5)
    with db.write() as conn:
        conn.execute(
            update(send_batches)
            .where(send_batches.c.campaign_id == campaign_id)
            .values(dispatched_at=past)
        )
        first = min(lost.submitted)
        assert batch_store.claim(
            conn, first, worker="dead-worker", now=past, lease=timedelta(seconds=2)
        )

    engines.messages.clear()
    engines.start(engines.new(settings))
    # Recovery ran inside start(), before the clock: the dead worker's batch is claimable again.
    assert engines.messages[:2] == [
        "Recovery: one tick before the scheduler starts.",
        "Recovered 1 batch(es) whose lease expired.",
    ]
    _wait_for(lambda: _row(db, campaign_id).status == "sent", 15, "the campaign to be sent")
    state = assert_invariants(db, campaign_id, emulator.log_path, "restart.example", audience)
    assert state.statuses == {"accepted": 35}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from newsletter.cli import main; main()", *args]


def test_the_engine_command_runs_until_sigterm_and_a_second_one_exits_2(
    db_url,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_TICK_SECONDS", "0.5")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("COLUMNS", "200")
    first = subprocess.Popen(_cli("engine"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        lines = []
        for line in iter(first.stdout.readline, b""):
            lines.append(line.decode())
            if "Engine started" in line.decode():
                break
        assert any("Recovery: one tick" in line for line in lines), lines
        second = subprocess.run(_cli("engine"), capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert "another engine is already running" in second.stderr
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out.decode()
    assert "Engine stopped." in out.decode()


def test_each_tick_sends_the_confirmation_emails_that_are_due(
    db,  # noqa: F811
    engine_env,
    engines,
    emulator,
):
    """A sign-up whose first attempt failed (or whose process died right after the commit)
    is queued; the engine's next tick sends it through the configured backend."""
    from newsletter.services.double_opt_in import request_confirmation
    from newsletter.services.lists import create_list

    settings = engine_env(tick_seconds="3600")
    create_list(db, "news", double_opt_in=True)
    request_confirmation(db, settings, email="zoe@example.org", list_name="news",
                         consent_text="Yes", source="web:signup")  # fmt: skip
    engines.start(engines.new(settings))  # the recovery tick, synchronously
    assert "Confirmation emails: 1 sent." in engines.messages
    [message] = emulator.messages_to("zoe@example.org")
    assert message["categories"] == ["confirmation"]
