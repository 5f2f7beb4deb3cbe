"""Dramatiq dispatcher: batches run in Dramatiq workers (scale-out on PostgreSQL).

The only module that imports dramatiq. A message carries nothing but a batch id; the worker
runs the same `send_batch` as the engine's threads, so switching dispatcher changes where a
batch runs, never what it guarantees (the claim is a compare-and-set, so a duplicated or
redelivered message cannot send a batch twice).

Broker set-up is explicit and lazy: importing this module opens no connection and declares no
actor. `configure(settings)` builds the broker from `broker_url` (redis:// → RedisBroker,
amqp:// → RabbitmqBroker), makes it dramatiq's global broker, then declares the actor on it
(the actor's `time_limit` depends on `lease_seconds`, so it cannot be declared at import).
Both sides call it: `DramatiqDispatcher(settings)` in the engine, and the worker processes
through the `setup_broker` callable that the dramatiq CLI imports
(`dramatiq newsletter.dispatch.dramatiq:setup_broker`, which is what `newsletter worker` runs).

Each worker process builds its settings → database → SendContext once, on its first message.
Retries are for infrastructure errors only (database unreachable, connection reset), at most
`MAX_RETRIES` times; provider outcomes never raise (they are recorded and retried through
`next_attempt_at`), and a batch whose message is lost is re-dispatched by the engine's tick
after one lease. No broker delays or ETAs carry business timing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from newsletter.config import Settings
from newsletter.errors import ConfigurationError

log = logging.getLogger(__name__)

QUEUE = "newsletter-send"  # the default of NEWSLETTER_BROKER_QUEUE
ACTOR_NAME = "send_batch"
MAX_RETRIES = 3
TIME_LIMIT_SHARE = 0.8  # of the lease: a hung worker is stopped before its lease can be taken


@dataclass
class _Runtime:
    settings: Settings
    broker: dramatiq.Broker
    actor: dramatiq.Actor[[int], None]
    ctx: Any = None  # SendContext, built on the first message in this process
    resources: ExitStack = field(default_factory=ExitStack)  # its database, closed with it
    worker: str | None = None
    executor: Any = None  # this process's registered Executor (its name is `worker`)


_runtime: _Runtime | None = None
_lock = threading.Lock()


def time_limit_ms(settings: Settings) -> int:
    """The actor's time limit: below the lease, so the lease outlives any running attempt."""
    return max(100, int(settings.lease_seconds * 1000 * TIME_LIMIT_SHARE))


def build_broker(settings: Settings, **options: Any) -> dramatiq.Broker:
    """A broker for `broker_url`; extra options (e.g. a Redis `namespace`) pass through."""
    url = settings.broker_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, **options)
    if url.startswith(("amqp://", "amqps://")):
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError:  # pragma: no cover - pika comes with the package
            raise ConfigurationError(
                "the RabbitMQ broker needs the pika package",
                where="setting `broker_url` (NEWSLETTER_BROKER_URL)",
                fix="reinstall the package (it depends on dramatiq[rabbitmq]), or use redis://",
            ) from None
        return RabbitmqBroker(url=url, **options)
    raise ConfigurationError(
        f"unsupported broker URL {url!r}",
        where="setting `broker_url` (NEWSLETTER_BROKER_URL)",
        fix="use redis://host:6379/0 or amqp://user:password@host:5672/",
    )


def _retry_infrastructure(retries: int, exc: BaseException) -> bool:
    """Retry only what a second attempt can fix: the database or the network was down."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return retries < MAX_RETRIES and isinstance(
        exc, OperationalError | InterfaceError | ConnectionError | TimeoutError
    )


def send_batch_actor(batch_id: int) -> None:
    """The actor body: run one batch in this worker process (its message is just the id)."""
    from newsletter.services.send_batch import send_batch

    runtime = _current()
    with _lock:
        if runtime.ctx is None:
            from datetime import UTC, datetime

            from newsletter.bootstrap import open_database, send_context
            from newsletter.storage import executors

            db = runtime.resources.enter_context(open_database(runtime.settings))
            ctx = send_context(runtime.settings, db)
            # This worker process is an executor: its lock proves it alive to the engine.
            runtime.executor = executors.register(ctx.db, "worker", now=datetime.now(UTC))
            ctx.executor_alive = runtime.executor.alive
            runtime.ctx, runtime.worker = ctx, runtime.executor.name
    assert runtime.worker is not None
    if runtime.executor is not None and runtime.executor.lost:
        log.error("batch %s not run: this worker's executor lock is lost", batch_id)
        return
    outcome = send_batch(runtime.ctx, batch_id, worker=runtime.worker)
    log.info("batch %s: %s", batch_id, outcome)  # no result backend: the ledger is the result


def configure(settings: Settings, *, broker: dramatiq.Broker | None = None) -> dramatiq.Actor:
    """Set up this process: the broker (dramatiq's global one) and the actor declared on it.

    Idempotent for the same settings; a new call (tests, a settings change) replaces the
    runtime and closes the database of the previous one.
    """
    global _runtime
    with _lock:
        if _runtime is not None and broker is None and _runtime.settings == settings:
            return _runtime.actor
        broker = broker if broker is not None else build_broker(settings)
        dramatiq.set_broker(broker)
        actor = dramatiq.actor(
            broker=broker,
            actor_name=ACTOR_NAME,
            queue_name=settings.broker_queue,
            max_retries=MAX_RETRIES,
            retry_when=_retry_infrastructure,
            min_backoff=500,
            max_backoff=10_000,
            time_limit=time_limit_ms(settings),
        )(send_batch_actor)
        previous, _runtime = _runtime, _Runtime(settings, broker, actor)
    _close(previous)
    return actor


def reset() -> None:
    """Forget the runtime and close its database (worker shutdown, tests)."""
    global _runtime
    with _lock:
        previous, _runtime = _runtime, None
        dramatiq.set_broker(StubBroker())  # never leave a closed broker as the global one
    _close(previous)


def _close(runtime: _Runtime | None) -> None:
    """The executor first (its lock, then its row), then the process's database."""
    if runtime is None:
        return
    if runtime.executor is not None:
        runtime.executor.close()
    runtime.resources.close()


def _current() -> _Runtime:
    if _runtime is None:  # a worker process started without setup_broker
        setup_broker()
    assert _runtime is not None
    return _runtime


def setup_broker() -> None:
    """Entry point for the dramatiq CLI: `dramatiq newsletter.dispatch.dramatiq:setup_broker`."""
    from newsletter.config import load_settings

    configure(load_settings())


def worker_command(settings: Settings, *, processes: int, threads: int) -> list[str]:
    """The dramatiq CLI invocation that `newsletter worker` runs (printed, then exec'd)."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        f"{__name__}:setup_broker",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--queues",
        settings.broker_queue,
    ]


def exec_worker(command: list[str]) -> None:  # pragma: no cover - replaces the process
    """Become the dramatiq CLI: it supervises the worker processes and handles signals."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # noqa: S606  (exec, by design)


class DramatiqDispatcher:
    """`submit` enqueues the batch id; workers anywhere run it.

    `idle()` is always True: remote work cannot be observed cheaply and does not need to be —
    the database says when a campaign is settled, and the engine's tick re-dispatches any due
    batch whose message was lost (after one lease). `check()` has nothing to re-raise here:
    worker errors are logged by the worker and retried by Dramatiq or by the next tick.
    """

    def __init__(
        self, settings: Settings, *, broker: dramatiq.Broker | None = None, executor: Any = None
    ):
        self._actor = configure(settings, broker=broker)
        self._executor = executor  # the engine process's: its name marks what it queued
        self.name = executor.name if executor is not None else None

    @property
    def broker(self) -> dramatiq.Broker:
        return self._actor.broker

    def submit(self, batch_id: int) -> None:
        self._actor.send(batch_id)

    def idle(self) -> bool:
        return True

    def check(self) -> None:
        return None

    def close(self) -> None:
        """Nothing to wait for: messages already sent are in the broker, not in this process."""
        if self._executor is not None:
            self._executor.close()
