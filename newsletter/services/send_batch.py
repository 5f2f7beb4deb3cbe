"""The unit of work: `send_batch(ctx, batch_id, worker=…)`, identical in a thread or a worker.

claim (CAS + lease; the only step under the write lock) → re-check eligibility (a read; the
ineligible are skipped) → note "requested" (a fenced CAS that renews the lease) → rate
limit → the pre-request check (on a monotonic clock: the lease must outlive the whole
request deadline plus the safety margin; plus `before_request_checks`), else abandon →
call the provider under that deadline with no transaction open → record the evidence
(unfenced) → apply the decision (fenced by lease owner and attempt). A duplicate call, a
crash at any line, a lost lease or a paused process can delay a batch but never send it
twice without evidence, nor lose it (docs/sending.md, "Stalls").
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, assert_never

from newsletter import tokens
from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend, OutgoingBatch, OutgoingRecipient
from newsletter.delivery.deadline import Deadline, request_deadline
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import (
    Action,
    BatchStatus,
    Decision,
    DeliveryStatus,
    ProviderResult,
    classify,
    retry_delay,
    split,
)
from newsletter.errors import NewsletterError
from newsletter.failpoints import failpoint
from newsletter.rendering.placeholders import (
    PREFERENCES_TOKEN,
    RECIPIENT_TOKEN,
    FillableText,
    Recipient,
    substitutions,
)
from newsletter.services.rate_limit import TokenBucket
from newsletter.storage import batch_store, campaign_store
from newsletter.storage.database import Database

MAX_RETRY_WINDOW = timedelta(minutes=30)


class ExecutorLost(NewsletterError):
    """This process's executor lock is gone: it may no longer send (storage/executors.py)."""

    def __init__(self, batch_id: int):
        super().__init__(
            f"this process lost its executor lock before batch {batch_id}'s request (nothing "
            "was sent); another process may now release its batches, so it stopped sending",
            where="the database session (PostgreSQL) or lock file (SQLite) proving it alive",
            fix="check the database connection, then run the command again: it resumes",
        )


@dataclass
class SendContext:
    """Everything `send_batch` needs, built once per process by the composition root."""

    db: Database
    settings: Settings
    backend: DeliveryBackend
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)
    limiter: TokenBucket | None = None
    last_heartbeat: float = 0.0  # when we last asked the provider for a test event
    monotonic: Callable[[], float] = time.monotonic  # lease checks: immune to clock steps
    # More conditions for a request to leave (each returns a reason to abandon, or None),
    # checked with the lease just before the request.
    before_request_checks: list[Callable[[], str | None]] = field(default_factory=list)
    # Is this process's executor lock still held? Checked before every request; if not, the
    # attempt is abandoned and `ExecutorLost` halts the process's sending.
    executor_alive: Callable[[], bool] | None = None
    _content: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def content(self, conn: Any, campaign_id: int) -> dict[str, Any]:
        """A campaign's immutable content, read once per process."""
        with self._lock:
            cached = self._content.get(campaign_id)
        if cached is None:
            row = campaign_store.get_campaign(conn, campaign_id)
            cached = {
                name: getattr(row, name)
                for name in ("subject", "html", "text", "sender_name", "sender_email", "reply_to")
            }
            cached["tags"] = (
                FillableText(row.html).tags_used
                | FillableText(row.text).tags_used
                | FillableText(row.subject).tags_used
            )
            with self._lock:
                self._content[campaign_id] = cached
        return cached


def send_batch(ctx: SendContext, batch_id: int, *, worker: str) -> str:
    """Run one batch if it can be claimed; returns what happened (for logs and tests)."""
    settings = ctx.settings
    lease = timedelta(seconds=settings.lease_seconds)
    with ctx.db.write() as conn:  # short: the claim alone holds the write lock
        batch = batch_store.claim(conn, batch_id, worker=worker, now=ctx.clock(), lease=lease)
    if batch is None:
        return "not-claimed"
    failpoint("after_claim")
    with ctx.db.read() as conn:
        candidates = batch_store.load_recipients(conn, batch)
        content = ctx.content(conn, batch.campaign_id)
    rows = [row for row in candidates if row.eligible]
    skipped = [row.id for row in candidates if not row.eligible]
    if skipped or not rows:
        with ctx.db.write() as conn:
            batch_store.mark_skipped(conn, skipped)
            if not rows:
                batch_store.finish_batch(
                    conn,
                    batch,
                    worker=worker,
                    status=BatchStatus.ACCEPTED,
                    delivery_status=None,
                    now=ctx.clock(),
                    last_error="nobody left to send to",
                )
                return "empty"
    limit = ctx.backend.max_batch
    if len(rows) > limit:  # frozen for another backend: cut to this one's, before any mark
        with ctx.db.write() as conn:
            batch_store.split_batch(
                conn,
                batch,
                worker=worker,
                groups=[[r.id for r in rows[i : i + limit]] for i in range(0, len(rows), limit)],
                reason=f"cut to the {ctx.backend.name} backend's {limit} recipient(s) per call",
            )
        return "split"

    outgoing = _outgoing(settings, content, rows)
    renewed = ctx.monotonic()  # before the write: the local lease ends no later than the row's
    with ctx.db.write() as conn:
        if not batch_store.mark_requested(conn, batch, worker=worker, now=ctx.clock(), lease=lease):
            return "lease-lost"  # the reaper or another attempt has it: nothing was sent
    failpoint("before_request")
    if ctx.limiter is not None:
        ctx.limiter.take(len(rows))
    lost = ctx.executor_alive is not None and not ctx.executor_alive()
    deadline = (
        "this process's executor lock is gone"
        if lost
        else _request_gate(ctx, lease_ends=renewed + settings.lease_seconds)
    )
    if isinstance(deadline, str):
        with ctx.db.write() as conn:
            batch_store.abandon_request(
                conn, batch, worker=worker, now=ctx.clock(), reason=deadline
            )
        if lost:
            raise ExecutorLost(batch.id)
        return "abandoned"
    failpoint("after_request_check")
    with request_deadline(deadline):
        result = ctx.backend.send(outgoing)
    failpoint("after_api_before_commit")

    now = ctx.clock()
    decision = classify(result, live=len(rows), now=now.timestamp())
    with ctx.db.write() as conn:
        batch_store.record_attempt(
            conn,
            batch,
            now=now,
            outcome=decision.action.value,
            http_status=result.status,
            message_id=result.message_id,
            detail=decision.reason,
        )
        applied = _apply(ctx, conn, batch, worker, decision, result, [r.id for r in rows], now)
    failpoint("after_commit")
    return decision.action.value if applied else "lease-lost"


def _request_gate(ctx: SendContext, *, lease_ends: float) -> Deadline | str:
    """The last check before the request leaves (after the rate limiter and rendering): the
    lease, on the monotonic clock, must outlive the whole request deadline plus the safety
    margin, and every `before_request_checks` must pass. Returns the request's deadline, or
    the reason to abandon the attempt."""
    settings = ctx.settings
    now = ctx.monotonic()
    left = lease_ends - now
    needed = settings.sendgrid_timeout + settings.send_safety_margin_s
    if left <= needed:
        return f"lease has {left:.3f} s left, the request needs {needed:.3f} s"
    for check in ctx.before_request_checks:
        if (reason := check()) is not None:
            return reason
    return Deadline(now + settings.sendgrid_timeout, clock=ctx.monotonic)


def _outgoing(settings: Settings, content: dict[str, Any], rows: list[Any]) -> OutgoingBatch:
    """The provider request for these rows: ids, tokens and substitutions, made a batch at a
    time (this loop is most of the engine's own CPU per recipient)."""
    keys = settings.signing_keys
    key_id, key = tokens.current_key(keys)
    used = content["tags"]
    ids = DeliveryIds(keys)
    delivery_ids = [row.id for row in rows]
    links = ids.link_ids(delivery_ids)
    unsubscribes = tokens.sign_many("unsubscribe", links, key=key, key_id=key_id)
    # Click and preference tokens only when the email carries them.
    clicks = (
        tokens.sign_many("click", links, key=key, key_id=key_id)
        if RECIPIENT_TOKEN in used
        else [""] * len(rows)
    )
    preferences = (
        tokens.sign_many("preferences", links, key=key, key_id=key_id)
        if PREFERENCES_TOKEN in used
        else [""] * len(rows)
    )
    fallback, unsubscribe_url = settings.first_name_fallback, f"{settings.public_url}/u/"
    recipients = tuple(
        OutgoingRecipient(
            email=row.email,
            substitutions=substitutions(
                Recipient(row.first_name, unsubscribe, click, preference),
                fallback=fallback,
                used=used,
            ),
            list_unsubscribe=unsubscribe_url + unsubscribe,
            send_id=send_id,
        )
        for row, send_id, unsubscribe, click, preference in zip(
            rows, ids.send_ids(delivery_ids), unsubscribes, clicks, preferences, strict=True
        )
    )
    return OutgoingBatch(
        subject=content["subject"],
        html=content["html"],
        text=content["text"],
        sender_name=content["sender_name"],
        sender_email=content["sender_email"],
        reply_to=content["reply_to"],
        list_id=settings.list_id,
        recipients=recipients,
    )


def _apply(
    ctx: SendContext,
    conn: Any,
    batch: Any,
    worker: str,
    decision: Decision,
    result: ProviderResult,
    delivery_ids: list[int],
    now: datetime,
) -> bool:
    match decision.action:
        case Action.ACCEPTED:
            return batch_store.finish_batch(
                conn,
                batch,
                worker=worker,
                status=BatchStatus.ACCEPTED,
                delivery_status=DeliveryStatus.ACCEPTED,
                now=now,
                provider_message_id=result.message_id,
                last_error=None,
            )
        case Action.UNKNOWN:
            return batch_store.finish_batch(
                conn,
                batch,
                worker=worker,
                status=BatchStatus.UNKNOWN,
                delivery_status=None,
                now=now,
                unknown_at=now,
                last_error=decision.reason,
            )
        case Action.FAIL:
            return batch_store.finish_batch(
                conn,
                batch,
                worker=worker,
                status=BatchStatus.FAILED,
                delivery_status=DeliveryStatus.FAILED,
                now=now,
                last_error=decision.reason,
            )
        case Action.SPLIT:
            groups = split(delivery_ids, decision.bad_indexes)
            return batch_store.split_batch(
                conn, batch, worker=worker, groups=groups, reason=decision.reason
            )
        case Action.PAUSE:
            moved = batch_store.finish_batch(
                conn,
                batch,
                worker=worker,
                status=BatchStatus.PENDING,
                delivery_status=None,
                now=now,
                last_error=decision.reason,
            )
            campaign_store.transition(
                conn,
                batch.campaign_id,
                CampaignStatus.PAUSED,
                only_from=[CampaignStatus.SENDING.value],
                pause_reason=f"provider refused: {decision.reason}",
            )
            return moved
        case Action.RETRY:  # definitely not accepted
            return _retry(ctx, conn, batch, worker, decision, now)
        case unreachable:  # a new Action must be handled above, never become a retry
            assert_never(unreachable)


def _retry(
    ctx: SendContext, conn: Any, batch: Any, worker: str, decision: Decision, now: datetime
) -> bool:
    settings = ctx.settings
    first = batch.first_attempt_at or now
    if batch.attempts >= settings.max_attempts or now - first > MAX_RETRY_WINDOW:
        return batch_store.finish_batch(
            conn,
            batch,
            worker=worker,
            status=BatchStatus.FAILED,
            delivery_status=DeliveryStatus.FAILED,
            now=now,
            last_error=f"gave up after {batch.attempts} attempts: {decision.reason}",
        )
    delay = retry_delay(
        batch.attempts,
        not_before_s=decision.not_before_s,
        base=settings.retry_base_s,
        cap=settings.retry_cap_s,
        rng=ctx.rng,
    )
    return batch_store.finish_batch(
        conn,
        batch,
        worker=worker,
        status=BatchStatus.RETRY_WAIT,
        delivery_status=None,
        now=now,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=decision.reason,
    )
