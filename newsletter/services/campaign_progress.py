"""Where a sending campaign is, for the admin's live progress (polled every ~2 s): recipients
done of all, the rate, retries and what waits for review.

Read from the counters the ledger's triggers keep (`status:*` in `campaign_counters`) and one
GROUP BY over the campaign's batches (a few thousand rows for a million recipients, on the
(campaign_id, status) index, remembered 2 s): never a count over deliveries, whatever the
campaign's size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from newsletter.domain.campaigns import TERMINAL, CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.storage import campaign_store, counter_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import send_batches

LIVE = frozenset({CampaignStatus.PLANNING, CampaignStatus.SENDING, CampaignStatus.PAUSED,
                  CampaignStatus.NEEDS_REVIEW, CampaignStatus.SCHEDULED})  # fmt: skip
#: A recipient is done once the ledger says what happened to them.
DONE = (DeliveryStatus.ACCEPTED, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED,
        DeliveryStatus.CANCELLED)  # fmt: skip


class BatchCache:
    """The campaign's batches per status (count, attempts) remembered `ttl_s` seconds: under
    many viewers polling every 2 s, the batch table is read once per campaign per period.
    The campaign row and its counters are read fresh on every view."""

    def __init__(self, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.clock = ttl_s, clock
        self._entries: dict[tuple[Any, ...], tuple[float, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, campaign_id: int, fingerprint: tuple[Any, ...]) -> list[Any]:
        """`fingerprint`: what was read fresh (the database, the campaign's status, start and
        counters); an entry is used only while it matches, so a change seen in the counters,
        or another database with the same campaign id, is never answered from memory."""
        now = self.clock()
        key = (str(conn.engine.url), campaign_id, *fingerprint)
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now:
            return found[1]
        rows = list(
            conn.execute(
                select(send_batches.c.status, func.count(), func.sum(send_batches.c.attempts))
                .where(send_batches.c.campaign_id == campaign_id)
                .group_by(send_batches.c.status)
            ).all()
        )
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (now + self.ttl_s, rows)
        return rows


BATCHES = BatchCache()


@dataclass(frozen=True)
class Snapshot:
    campaign_id: int
    status: str
    pause_reason: str | None
    total: int  # recipients frozen at planning
    sent: int  # accepted by the provider
    failed: int
    skipped: int  # unsubscribed, suppressed or erased by the time their batch went
    cancelled: int
    needs_review: int  # recipients in batches whose outcome nobody can tell yet
    review_batches: int
    retrying: int  # batches waiting to be retried
    retries: int  # attempts beyond the first, over all batches
    per_minute: float  # accepted per minute since the start
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped + self.cancelled

    @property
    def percent(self) -> int:
        if self.status in (CampaignStatus.SENT, CampaignStatus.SENT_WITH_ERRORS):
            return 100
        return min(100, int(100 * self.done / self.total)) if self.total else 0

    @property
    def live(self) -> bool:
        """Still changing: the page keeps polling."""
        return self.status in LIVE

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def snapshot(db: Database, campaign_id: int, *, now: datetime) -> Snapshot:
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        counts = counter_store.counts_of_names(
            conn, campaign_id, [f"status:{s.value}" for s in DeliveryStatus]
        )
        seen = (row.status, row.started_at, row.finished_at, tuple(sorted(counts.items())))
        batches = BATCHES.get(conn, campaign_id, seen)

    def c(status: DeliveryStatus) -> int:
        return counts.get(f"status:{status.value}", 0)

    by_status = {status: (int(n), int(attempts or 0)) for status, n, attempts in batches}
    retries = sum(max(attempts - n, 0) for n, attempts in by_status.values())
    sent = c(DeliveryStatus.ACCEPTED)
    end = row.finished_at or now
    elapsed = (end - row.started_at).total_seconds() if row.started_at else 0.0
    return Snapshot(
        campaign_id=row.id,
        status=row.status,
        pause_reason=row.pause_reason,
        total=int(row.to_send or 0),
        sent=sent,
        failed=c(DeliveryStatus.FAILED),
        skipped=c(DeliveryStatus.SKIPPED),
        cancelled=c(DeliveryStatus.CANCELLED),
        needs_review=c(DeliveryStatus.NEEDS_REVIEW),
        review_batches=by_status.get(BatchStatus.NEEDS_REVIEW.value, (0, 0))[0],
        retrying=by_status.get(BatchStatus.RETRY_WAIT.value, (0, 0))[0],
        retries=retries,
        per_minute=round(60 * sent / elapsed, 1) if elapsed > 0 else 0.0,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
