"""The engine: APScheduler 3.11 as a clock around `tick()`. The only importer of apscheduler.

All state lives in the tables; the scheduler holds nothing that needs saving. On start the
engine takes the single-engine lock, runs one tick synchronously (recovery first: reap expired
leases, resolve unknown batches, start due campaigns, finish settled ones), then starts a
`BackgroundScheduler` with a `MemoryJobStore` rebuilt from the campaigns table:

- `tick`: an `IntervalTrigger` every `tick_seconds` (webhook inbox, then `tick()`, then the
  double opt-in confirmation emails that are due);
- `campaign-<id>`: one `DateTrigger` per `scheduled` campaign at its `scheduled_at`, which
  just runs a tick (idempotent: `start_due` is a compare-and-set, and a campaign later than
  its late-send window becomes `missed`). Each tick refreshes these jobs, so campaigns
  scheduled while the engine runs get their own wake-up, and cancelled ones lose it.

Jobs use `max_instances=1`, `coalesce=True`, `misfire_grace_time=None` (a late job still runs)
and one executor thread, so two ticks never overlap in one engine.

Exactly one engine per database (`storage/locks.py`): on PostgreSQL a session advisory lock
held on a dedicated connection for the engine's lifetime; on SQLite an exclusive `flock` on
`<database file>.engine.lock`. A second engine refuses to start.
Never run the engine inside a multi-worker web server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from newsletter.config import Settings
from newsletter.dispatch.base import Dispatcher
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.send_time import describe, duration, is_late
from newsletter.services.confirmation_mail import send_due_confirmations
from newsletter.services.runner import Tick, tick
from newsletter.services.send_batch import SendContext
from newsletter.storage import campaign_store
from newsletter.storage.database import Database
from newsletter.storage.locks import DatabaseLock, LockTaken, database_lock

log = logging.getLogger(__name__)

TICK_JOB = "tick"
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}

EngineAlreadyRunning = LockTaken  # what a second engine gets


def engine_lock(db: Database) -> DatabaseLock:
    """Exactly one engine per database."""
    return database_lock(
        db,
        "engine",
        taken="another engine is already running on this database",
        fix="run exactly one `newsletter engine` per database; stop the other one first "
        "(add Dramatiq workers with `newsletter worker` to send faster)",
    )


def start_lines(db: Database, due: list[int], started: list[int]) -> list[str]:
    """What became of due campaigns in one tick, for the log: every start (on time or late,
    with the due time in the campaign's zone and in UTC) and every miss."""
    with db.read() as conn:
        rows = campaign_store.start_times(conn, [*started, *due])
    lines = []
    for row in rows:
        when = describe(row.scheduled_at, row.time_zone) if row.scheduled_at else "now"
        window = duration(timedelta(seconds=row.late_send_window_s))
        if row.id in started and row.scheduled_at and row.started_at:
            if is_late(row.scheduled_at, row.started_at):
                late = duration(row.started_at - row.scheduled_at)
                lines.append(
                    f"Campaign {row.id} started late: due {when}, started {late} late "
                    f"(within its {window} late-send window)."
                )
            else:
                lines.append(f"Campaign {row.id} started on time: due {when}.")
        elif row.id in started:
            lines.append(f"Campaign {row.id} started.")
        elif row.status == CampaignStatus.MISSED.value and row.scheduled_at and row.finished_at:
            late = duration(row.finished_at - row.scheduled_at)
            lines.append(
                f"Campaign {row.id} missed: due {when}, {late} late, past its {window} "
                "late-send window; it will not be sent."
            )
    return lines


# --- the engine ---------------------------------------------------------------------------------


class Engine:
    """One per database. `start()` returns once recovery ran and the clock is running."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        ctx: SendContext,
        dispatcher: Dispatcher,
        *,
        report: Callable[[str], None] | None = None,
        process_events: Callable[[], object] | None = None,
    ):
        self.settings = settings
        self.db = db
        self.ctx = ctx
        self.dispatcher = dispatcher
        self._report = report or (lambda message: log.info("%s", message))
        self._process_events = process_events or self._default_events()
        self._lock = engine_lock(db)
        self._tick_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._campaign_jobs: dict[int, datetime] = {}
        self.failure: str | None = None  # set when the engine stopped working (lock lost)
        self.ticks = 0

    def _default_events(self) -> Callable[[], object] | None:
        try:
            from newsletter.services.tracking import process_inbox
        except ImportError:  # pragma: no cover - the tracking service ships with the product
            return None
        from newsletter.privacy.stored_text import purge_raw_batches

        key, retention = self.settings.key_ring, self.settings.webhook_retention_days

        def process_events() -> object:
            now = datetime.now(UTC)
            counts = process_inbox(self.db, key=key, now=now)
            with self.db.write() as conn:  # raw batches are kept only so long (privacy)
                purge_raw_batches(conn, now=now, retention_days=retention)
            return counts

        return process_events

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        """Take the lock (or raise EngineAlreadyRunning), recover, then start the clock."""
        if self._scheduler is not None:
            raise RuntimeError("the engine is already started")
        self._lock.acquire()
        try:
            self._report("Recovery: one tick before the scheduler starts.")
            self.run_tick("recovery")
            scheduler = BackgroundScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(max_workers=1)},
                job_defaults=dict(JOB_DEFAULTS),
                timezone=UTC,
            )
            scheduler.add_job(
                self.run_tick,
                IntervalTrigger(seconds=self.settings.tick_seconds, timezone=UTC),
                args=("tick",),
                id=TICK_JOB,
                name="engine tick",
                replace_existing=True,
            )
            self._scheduler = scheduler
            self.refresh_campaign_jobs()
            scheduler.start()
        except BaseException:
            self._shutdown_scheduler()
            self._lock.release()
            raise
        self._report(
            f"Engine started: tick every {self.settings.tick_seconds:g} s, "
            f"{len(self._campaign_jobs)} scheduled campaign(s) waiting."
        )

    def stop(self) -> None:
        """Stop the clock (waiting for a running tick), wait for in-flight batches, unlock."""
        self._shutdown_scheduler()
        try:
            self.dispatcher.close()  # the thread pool finishes the batches it is running
        finally:
            self._lock.release()
        self._report("Engine stopped.")

    def _shutdown_scheduler(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        # Let a running tick finish first: it may be refreshing jobs, and APScheduler's
        # shutdown holds the job store lock while it waits for that tick (a deadlock).
        with self._tick_lock:
            pass
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        self._campaign_jobs.clear()

    def run_tick(self, reason: str = "tick") -> Tick | None:
        """One engine step (idempotent); every job calls this. Never raises into the clock."""
        with self._tick_lock:
            if self.failure is not None:
                return None
            if not self._lock.alive():
                self.failure = "the single-engine lock was lost (database connection dropped)"
                self._report(f"Engine halted: {self.failure}.")
                return None
            if self.ctx.executor_alive is not None and not self.ctx.executor_alive():
                self.failure = "this process's executor lock was lost (storage/executors.py)"
                self._report(f"Engine halted: {self.failure}.")
                return None
            try:
                due = self._due_ids()
                result = tick(self.ctx, self.dispatcher, process_events=self._process_events)
                self.ticks += 1
                self.dispatcher.check()  # a bug in a batch run surfaces in the log, once
                self._describe(reason, result, start_lines(self.db, due, result.started))
                if self._scheduler is not None:
                    self.refresh_campaign_jobs()
                self._send_confirmations()
                return result
            except Exception:
                log.exception("engine %s failed; the next tick retries", reason)
                return None

    def _send_confirmations(self) -> None:
        """Double opt-in confirmation emails that are due: new, or waiting to be retried."""
        outcomes = send_due_confirmations(self.db, self.settings, self.ctx.backend)
        if outcomes:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
            self._report(f"Confirmation emails: {counts}.")

    def _due_ids(self) -> list[int]:
        """Scheduled campaigns whose time has come: this tick starts or misses each."""
        now = datetime.now(UTC)
        with self.db.read() as conn:
            rows = campaign_store.campaigns_in(conn, (CampaignStatus.SCHEDULED.value,))
        return [row.id for row in rows if row.scheduled_at is None or row.scheduled_at <= now]

    def _describe(self, reason: str, result: Tick, starts: list[str]) -> None:
        for line in starts:
            self._report(line)
        if result.reaped:
            self._report(f"Recovered {result.reaped} batch(es) whose lease expired.")
        resolved = {k: v for k, v in result.resolved.items() if v and k != "waiting_for_feed"}
        if resolved:
            self._report(
                "Unknown batches resolved: " + ", ".join(f"{k} {v}" for k, v in resolved.items())
            )
        if result.dispatched:
            self._report(f"Dispatched {result.dispatched} batch(es).")
        for campaign_id, status in result.finished:
            self._report(f"Campaign {campaign_id} finished: {status}.")

    def refresh_campaign_jobs(self) -> None:
        """One DateTrigger per future `scheduled` campaign; drop jobs of the others."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        now = datetime.now(UTC)
        with self.db.read() as conn:
            rows = campaign_store.campaigns_in(conn, (CampaignStatus.SCHEDULED.value,))
        wanted = {
            row.id: row.scheduled_at
            for row in rows
            if row.scheduled_at is not None and row.scheduled_at > now
        }
        zones = {row.id: row.time_zone for row in rows}
        for campaign_id in set(self._campaign_jobs) - set(wanted):
            with contextlib.suppress(JobLookupError):
                scheduler.remove_job(f"campaign-{campaign_id}")
            del self._campaign_jobs[campaign_id]
        for campaign_id, at in wanted.items():
            if self._campaign_jobs.get(campaign_id) == at:
                continue
            scheduler.add_job(
                self.run_tick,
                DateTrigger(run_date=at, timezone=UTC),
                args=(f"campaign {campaign_id} due at {at:%Y-%m-%d %H:%M:%S}Z",),
                id=f"campaign-{campaign_id}",
                name=f"start campaign {campaign_id}",
                replace_existing=True,
            )
            self._campaign_jobs[campaign_id] = at
            self._report(
                f"Campaign {campaign_id} will start at {describe(at, zones[campaign_id])}."
            )

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduler's jobs (id, next run), for status output and tests."""
        if self._scheduler is None:
            return []
        return [
            {"id": job.id, "next_run_time": job.next_run_time} for job in self._scheduler.get_jobs()
        ]
