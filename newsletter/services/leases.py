"""Leases of executors that are gone, released at once; and what a campaign is waiting for.

`release_dead` runs at the start of every tick (recovery.reap_expired): every registered
executor but ourselves is probed; one whose kernel lock we can take is gone, so its leases
are released while we hold its lock (never requested → pending; maybe requested → unknown),
then it is forgotten. A live executor's lock is never taken. Leases of executors that cannot
be probed wait out their expiry, and `waits` says so, with the reason and a countdown.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from newsletter.domain.sending import BatchStatus
from newsletter.storage import batch_store, executors
from newsletter.storage.database import Database, tuples
from newsletter.storage.sending_tables import campaigns, send_batches

log = logging.getLogger(__name__)


def release_dead(db: Database, *, now: datetime) -> int:
    """Probe every registered executor; release the leases of those proved dead."""
    released = 0
    for name in executors.registered(db):
        with executors.probe(db, name) as verdict:
            if verdict.proof != executors.Proof.DEAD:
                continue
            with db.write() as conn:
                count = batch_store.release_leases(
                    conn, name, now=now, reason=f"executor {name} is gone (its lock was free)"
                )
            if count:
                log.warning("executor %s is gone: released %d lease(s)", name, count)
            released += count
    return released


@dataclass(frozen=True)
class Wait:
    """Something an open campaign is waiting for, in words, with when it ends."""

    batches: int
    reason: str
    until: datetime | None = None

    def describe(self, now: datetime) -> str:
        text = f"{self.batches} batch(es) {self.reason}"
        if self.until is not None:
            left = max(0, int((self.until - now).total_seconds() + 0.999))
            text += f"; {left} s left (until {self.until:%H:%M:%S} UTC)"
        return text


def waits(db: Database, campaign_id: int, *, now: datetime) -> list[Wait]:
    """Why a sending campaign's open batches are not moving: leases that cannot be released
    before they expire (and why), retries waiting for their time, requests in doubt."""
    with db.read() as conn:
        held = conn.execute(
            select(
                send_batches.c.lease_owner,
                func.count(),
                func.max(send_batches.c.lease_until),
            )
            .where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status == BatchStatus.IN_FLIGHT.value,
            )
            .group_by(send_batches.c.lease_owner)
        ).all()
        retrying = conn.execute(
            select(func.count(), func.min(send_batches.c.next_attempt_at)).where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status == BatchStatus.RETRY_WAIT.value,
                send_batches.c.next_attempt_at > now,
            )
        ).one()
        doubt = conn.execute(
            select(func.count(), campaigns.c.unknown_policy)
            .join(campaigns, campaigns.c.id == send_batches.c.campaign_id)
            .where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status == BatchStatus.UNKNOWN.value,
            )
            .group_by(campaigns.c.unknown_policy)
        ).first()
    found: list[Wait] = []
    by_reason: dict[tuple[str, datetime | None], int] = defaultdict(int)
    for owner, count, until in tuples(held):
        with executors.probe(db, owner, forget=False) as verdict:
            proof, why = verdict.proof, verdict.reason
        if proof == executors.Proof.ALIVE:
            continue  # being sent right now: not a wait
        if proof == executors.Proof.DEAD:
            reason = (
                f"held by executor {owner}, which is gone: released by the next tick of "
                "`newsletter campaign send` or the engine"
            )
            by_reason[(reason, None)] += count
        else:
            reason = (
                f"held by {owner}: cannot prove it is gone ({why}); they wait for their "
                "lease to expire"
            )
            by_reason[(reason, until)] += count
    found += [Wait(n, reason, until) for (reason, until), n in by_reason.items()]
    if retrying[0]:
        found.append(Wait(retrying[0], "wait to retry after a provider refusal", retrying[1]))
    if doubt is not None and doubt[0]:
        found.append(
            Wait(
                doubt[0],
                "in doubt (the request may have left): resolved from provider evidence, else "
                f"by the campaign's `{doubt[1]}` policy once lease + request deadline + grace "
                "have passed since the request",
            )
        )
    return found
