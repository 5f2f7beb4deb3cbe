"""One engine tick, and a foreground loop that drives one campaign to its end.

The tick is the whole engine: process webhook events, reap expired leases, resolve unknown
batches, start due campaigns, dispatch due batches, finish settled campaigns. APScheduler
(engine.py) only calls it on a clock; `newsletter campaign send` calls it in a loop.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from newsletter.dispatch.base import Dispatcher
from newsletter.domain.campaigns import TERMINAL, CampaignStatus
from newsletter.domain.sending import OPEN_BATCH, BatchStatus
from newsletter.services import planning, recovery
from newsletter.services.send_batch import SendContext
from newsletter.storage import campaign_store

SETTLED = {*TERMINAL, CampaignStatus.NEEDS_REVIEW, CampaignStatus.PAUSED}
IN_DOUBT = "in_doubt"  # `drive`'s answer when only batches awaiting evidence are left


def _only_in_doubt(counts: dict[str, int]) -> bool:
    open_ = {k: v for k, v in counts.items() if k in OPEN_BATCH and v}
    return set(open_) == {BatchStatus.UNKNOWN.value}


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Tick:
    reaped: int
    resolved: dict[str, int]
    started: list[int]
    dispatched: int
    finished: list[tuple[int, str]]


def tick(
    ctx: SendContext,
    dispatcher: Dispatcher,
    *,
    campaign_id: int | None = None,
    process_events: Callable[[], object] | None = None,
) -> Tick:
    settings = ctx.settings
    if process_events is not None:
        process_events()
    now = ctx.clock()
    reaped = recovery.reap_expired(ctx.db, now=now)
    resolved = recovery.resolve_unknown(
        ctx.db,
        now=now,
        grace=timedelta(seconds=settings.webhook_grace_s),
        lease=timedelta(seconds=settings.lease_seconds),
        request=timedelta(seconds=settings.sendgrid_timeout),
    )
    if resolved["waiting_for_feed"]:
        _heartbeat(ctx, now.timestamp())
    planning.fit_to_backend(ctx.db, ctx.backend.max_batch)  # no batch beyond the backend's limit
    started = recovery.start_due(ctx.db, settings.audiences_dir, now=now)
    due = recovery.due_batches(
        ctx.db,
        now=ctx.clock(),
        lease=timedelta(seconds=settings.lease_seconds),
        campaign_id=campaign_id,
        dispatcher=getattr(dispatcher, "name", None),
    )
    for batch_id in due:
        dispatcher.submit(batch_id)
    finished = recovery.finish_campaigns(ctx.db, now=ctx.clock())
    return Tick(reaped, resolved, started, len(due), finished)


def _heartbeat(ctx: SendContext, now: float) -> None:
    """On a quiet system no event may arrive after an unknown batch's grace period; ask the
    provider for a test event (at most once per grace period) so the feed can prove itself."""
    if now - ctx.last_heartbeat >= ctx.settings.webhook_grace_s:
        ctx.last_heartbeat = now
        ctx.backend.request_test_event()


def drive(
    ctx: SendContext,
    dispatcher: Dispatcher,
    campaign_id: int,
    *,
    on_progress: Callable[[dict[str, int], str], None] | None = None,
    process_events: Callable[[], object] | None = None,
    poll_s: float = 0.2,
    stop: Callable[[], bool] = lambda: False,
    leave_in_doubt: bool = False,
) -> str:
    """Tick until the campaign is terminal, paused or needs review; returns its status.

    `on_progress` gets the campaign's batches by status (a small table: cheap to count on
    every tick, unlike a million deliveries). `leave_in_doubt`: also return `IN_DOUBT` once
    nothing is left to send but batches whose request may have reached the provider — their
    outcome waits for evidence (up to lease + request deadline + webhook grace after their
    request: minutes in production), which the engine or a later run settles."""
    while True:
        tick(ctx, dispatcher, campaign_id=campaign_id, process_events=process_events)
        dispatcher.check()
        with ctx.db.read() as conn:
            status = campaign_store.get_campaign(conn, campaign_id).status
            counts = campaign_store.batch_counts(conn, campaign_id)
        if on_progress is not None:
            on_progress(counts, status)
        if status in SETTLED and dispatcher.idle():
            return str(status)
        if leave_in_doubt and _only_in_doubt(counts) and dispatcher.idle():
            return IN_DOUBT
        if stop():
            return str(status)
        time.sleep(poll_s)
