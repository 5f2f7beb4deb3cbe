"""Composition root: the only module (besides tests) that builds concrete adapters.

Entry points (CLI, web, engine, Dramatiq worker) call these to get a database and a delivery
backend, configured from one Settings object.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend
from newsletter.errors import ConfigurationError
from newsletter.storage.database import Database, connection_problem
from newsletter.storage.schema import ensure_schema

if TYPE_CHECKING:
    from newsletter.dispatch.base import Dispatcher
    from newsletter.services.send_batch import SendContext


@contextmanager
def open_database(
    settings: Settings | None = None, *, check_schema: bool = True, check_key: bool = True
) -> Iterator[Database]:
    """The configured database (`settings`, else loaded from the environment) for the length
    of a `with` block, closed after it. Refuses an outdated schema (see `newsletter db
    upgrade`), one whose address hashes use another secret key (`keys.database`), or one that
    cannot be reached, with a message, never a traceback. A process that keeps it for its
    lifetime (the Dramatiq worker) enters it on a `contextlib.ExitStack`."""
    from sqlalchemy.exc import DBAPIError

    from newsletter.config import load_settings
    from newsletter.keys.database import check_database_key

    settings = settings or load_settings()
    db = Database.from_url(settings.database_url)
    try:
        try:
            if check_schema:
                ensure_schema(db)
                if check_key:
                    check_database_key(db, settings.key_ring)
            else:
                with db.engine.connect() as conn:  # reachable at least: fail here, not mid-command
                    conn.rollback()
        except DBAPIError as error:
            raise connection_problem(error, settings.database_url) from None
        yield db
    finally:
        db.close()


def delivery_backend(settings: Settings) -> DeliveryBackend:
    kind = settings.delivery_backend
    if kind == "sendgrid":
        if settings.sendgrid_api_key is None:
            raise ConfigurationError(
                "the sendgrid backend needs an API key",
                where="NEWSLETTER_SENDGRID_API_KEY",
                fix="set NEWSLETTER_SENDGRID_API_KEY, or NEWSLETTER_DELIVERY=outbox for local use",
            )
        from newsletter.delivery.sendgrid import SendGridBackend

        return SendGridBackend(
            settings.sendgrid_api_key.get_secret_value(),
            base_url=settings.sendgrid_base_url,
            timeout=settings.sendgrid_timeout,
        )
    if kind == "smtp":
        from newsletter.delivery.smtp import SmtpBackend

        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return SmtpBackend(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=password,
        )
    from newsletter.delivery.outbox import OutboxBackend

    return OutboxBackend(settings.outbox_dir)


def send_context(settings: Settings, db: Database) -> SendContext:
    """What `send_batch` needs, wired from settings: database, backend, clock, rate limit."""
    from datetime import UTC, datetime

    from newsletter.services.send_batch import SendContext

    limiter = None
    if settings.send_rate:
        from newsletter.services.rate_limit import TokenBucket

        limiter = TokenBucket(
            settings.send_rate, burst=max(settings.send_rate, settings.batch_size)
        )
    ctx = SendContext(
        db=db,
        settings=settings,
        backend=delivery_backend(settings),
        clock=lambda: datetime.now(UTC),
        limiter=limiter,
    )
    # A batch allocates ~10,000 short-lived objects; without this, every full collection
    # re-walks everything imported so far (a sixth of a batch's CPU time, docs/benchmarks.md).
    gc.freeze()
    return ctx


def dispatcher(settings: Settings, ctx: SendContext, *, kind: str = "send") -> Dispatcher:
    """Registers this process as an executor (its lock proves it alive, storage/executors.py);
    the dispatcher's `close()` unregisters it."""
    from datetime import UTC, datetime

    from newsletter.storage import executors

    executor = executors.register(ctx.db, kind, now=datetime.now(UTC))
    ctx.executor_alive = executor.alive
    if settings.dispatcher == "dramatiq":
        from newsletter.dispatch.dramatiq import DramatiqDispatcher

        return DramatiqDispatcher(settings, executor=executor)
    from newsletter.dispatch.local import ThreadPoolDispatcher

    return ThreadPoolDispatcher(
        ctx, threads=settings.send_threads, worker_id=executor.name, executor=executor
    )
