"""Recording clicks and opens off the request path.

The redirect answers as soon as it knows the destination and hands what it saw to
`ClickRecorder.add` (a queue put). One background thread drains the queue in batches and
writes each batch in one transaction (`record`): the hits with truncated values only, the
delivery's classification redone over its whole history (`bots.classify`), the counters
`campaign stats` reads moved by the difference, and human hits in `subscriber_events` for
segment rules. A batch that fails is kept and retried, so no click is lost to a busy
database; `flush()` waits until everything added so far is written (tests, shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from newsletter.engagement import bots
from newsletter.engagement.network import truncate_ip
from newsletter.engagement.user_agents import agent
from newsletter.storage import click_store, counter_store
from newsletter.storage.database import Database

log = logging.getLogger(__name__)

#: Rules decided by the request alone: kept when a delivery is classified again.
REQUEST_REASONS = frozenset(
    {
        "prefetch",
        "no_user_agent",
        "bot_user_agent",
        "unknown_user_agent",
        "not_a_browser",
        "mail_proxy",
        "flood",
    }
)
BATCH = 5000


@dataclass(frozen=True, slots=True)
class Seen:
    """What the click redirect or the open pixel saw (nothing is decided yet)."""

    at: datetime
    campaign_id: int
    delivery_id: int | None  # None: a test send's click, counted apart
    link_key: str | None  # None: an open
    link_kind: str | None
    user_agent: str | None
    prefetch: bool
    client_ip: str | None


def record(db: Database, seen: Sequence[Seen], flooded: set[int] | None = None) -> None:
    """Write a batch of hits in one transaction (see the module docstring). `flooded` holds
    deliveries known to have FLOOD_HITS stored hits (a count that only grows until retention
    deletes rows), whose history is then not read again."""
    flooded = set() if flooded is None else flooded
    newly: set[int] = set()
    deltas: Counter[counter_store.Key] = Counter()
    for hit in seen:
        if hit.delivery_id is None and hit.link_key is not None:
            deltas[hit.campaign_id, "", "test_clicks"] += 1
            deltas[hit.campaign_id, hit.link_key, "test_clicks"] += 1
    real = [hit for hit in seen if hit.delivery_id is not None]
    with db.write() as conn:
        if real:
            _record_hits(conn, real, deltas, flooded, newly)
        counter_store.add_counts(conn, deltas)
    flooded |= newly  # only once committed


def _record_hits(
    conn: Any,
    seen: Sequence[Seen],
    deltas: Counter[counter_store.Key],
    flooded: set[int],
    newly: set[int],
) -> None:
    facts = click_store.deliveries_of(conn, (h.delivery_id for h in seen if h.delivery_id))
    links = click_store.link_counts(conn, {fact.campaign_id for fact in facts.values()})
    stored: dict[int, list[Any]] = {}
    unknown = [d for d in facts if d not in flooded]
    for row in click_store.hits_of(conn, unknown, limit=bots.FLOOD_HITS) if unknown else ():
        stored.setdefault(row.delivery_id, []).append(row)
    new_rows: list[tuple] = []  # in click_store.HIT_COLUMNS order
    changed: list[tuple[int, str | None]] = []
    events: list[tuple] = []  # in click_store.EVENT_COLUMNS order
    by_delivery: dict[int, list[Seen]] = {}
    for hit in seen:
        if hit.delivery_id in facts:  # a delivery deleted since is simply not recorded
            by_delivery.setdefault(hit.delivery_id, []).append(hit)
    for delivery_id, fresh in by_delivery.items():
        fact, old = facts[delivery_id], stored.get(delivery_id, [])
        room = 0 if delivery_id in flooded else max(bots.FLOOD_HITS - len(old), 0)
        if len(old) + len(fresh) >= bots.FLOOD_HITS:
            newly.add(delivery_id)
        if len(fresh) > room:  # no person clicks one email this often
            new_rows.extend(_flood(fact, delivery_id, fresh[room:], deltas))
            fresh = fresh[:room]
            if not fresh:
                continue
        old_hits = [
            bots.Hit(
                row.occurred_at,
                row.link_key,
                row.link_kind,
                row.reason if row.reason in REQUEST_REASONS else None,
            )
            for row in old
        ]
        agents = [agent(h.user_agent) for h in fresh]
        new_hits = [
            bots.Hit(h.at, h.link_key, h.link_kind, "prefetch" if h.prefetch else a.machine)
            for h, a in zip(fresh, agents, strict=True)
        ]
        hits = old_hits + new_hits
        reasons = bots.classify(
            hits,
            delivered_at=fact.delivered_at,
            accepted_at=fact.accepted_at,
            burst=bots.burst_links(links.get(fact.campaign_id, 0)),
        )
        campaign = fact.campaign_id
        for key, value in bots.counts(hits, reasons).items():
            deltas[campaign, *key] += value
        if old:  # what the history counted before is taken back (it is in `after` again)
            for key, value in bots.counts(old_hits, [row.reason for row in old]).items():
                deltas[campaign, *key] -= value
        for row, old_hit, reason in zip(old, old_hits, reasons, strict=False):
            if reason != row.reason:
                changed.append((row.id, reason))
                if fact.subscriber_id is not None and (reason is None) != (row.reason is None):
                    event = _event(fact.subscriber_id, old_hit)
                    if reason is None:
                        events.append(event)
                    else:
                        click_store.remove_event(conn, event)
        for new_hit, seen_hit, found, reason in zip(
            new_hits, fresh, agents, reasons[len(old) :], strict=True
        ):
            new_rows.append(
                (
                    campaign,
                    delivery_id,
                    new_hit.link_key,
                    new_hit.at,
                    reason is not None,
                    reason,
                    found.family,
                    truncate_ip(seen_hit.client_ip),
                )
            )
            if reason is None and fact.subscriber_id is not None:
                events.append(_event(fact.subscriber_id, new_hit))
    click_store.insert_hits(conn, new_rows)
    click_store.reclassify(conn, changed)
    click_store.add_events(conn, events)


def _flood(
    fact: Any, delivery_id: int, fresh: Sequence[Seen], deltas: Counter[counter_store.Key]
) -> list[tuple]:
    """Hits of a delivery that already has FLOOD_HITS: machine hits, added to the machine
    counts only (nothing earlier is reclassified, so the work stays bounded)."""
    rows = []
    for hit in fresh:
        name = "machine_clicks" if hit.link_key is not None else "machine_opens"
        for scope in ("", *((hit.link_key,) if hit.link_key else ()), bots.hour_scope(hit.at)):
            deltas[fact.campaign_id, scope, name] += 1
        rows.append(
            (
                fact.campaign_id,
                delivery_id,
                hit.link_key,
                hit.at,
                True,
                "flood",
                agent(hit.user_agent).family,
                truncate_ip(hit.client_ip),
            )
        )
    return rows


def _event(subscriber_id: int, hit: bots.Hit) -> tuple:
    """The `subscriber_events` row of a person's hit (click_store.EVENT_COLUMNS order)."""
    kind = hit.link_kind if hit.link_kind in ("consultation", "article", "other") else None
    if not hit.is_click:
        return (subscriber_id, "open", None, hit.at)
    return (subscriber_id, "click", kind, hit.at)


class ClickRecorder:
    """A queue of `Seen` hits and the one thread that writes them (see the module docstring).

    `housekeeping` (retention) runs on the same thread at start and then every
    `housekeeping_every_s`, so it never competes with click writes for the write lock.
    """

    def __init__(
        self,
        db: Database,
        *,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every_s: float = 3600.0,
        retry_s: float = 1.0,
        gather_s: float = 0.25,
    ):
        self.db = db
        self._queue: queue.SimpleQueue[Seen | threading.Event | None] = queue.SimpleQueue()
        self._housekeeping = housekeeping
        self._every = housekeeping_every_s
        self._retry_s = retry_s
        self._gather_s = gather_s
        self._thread: threading.Thread | None = None
        self.recorded = 0
        self.failures = 0
        self._flooded: set[int] = set()

    def add(self, seen: Seen) -> None:
        self._queue.put(seen)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="click-recorder", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every hit added before this call is written; False on timeout."""
        if self._thread is None:
            self._drain_inline()
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _drain_inline(self) -> None:
        pending: list[Seen] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Seen):
                pending.append(item)
            elif isinstance(item, threading.Event):
                item.set()
        if pending:
            record(self.db, pending, self._flooded)
            self.recorded += len(pending)

    def _run(self) -> None:
        agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")  # load the parser's rules now
        pending: list[Seen] = []
        waiting: list[threading.Event] = []
        next_housekeeping = time.monotonic()
        stopping = False
        while not (stopping and not pending):
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + self._every
                self._run_housekeeping()
            item: Seen | threading.Event | Literal[False] | None
            try:
                item = self._queue.get(timeout=0.5 if not pending else self._retry_s)
            except queue.Empty:
                item = False
            # After the first hit, sleep `gather_s` and then take everything queued: one
            # transaction per ~0.25 s keeps the per-batch cost (queries, commit) off each click,
            # and no click wakes this thread (a wake-up per click costs more than the click).
            if isinstance(item, Seen) and self._gather_s:
                time.sleep(self._gather_s)
            while item is not False:
                if item is None:
                    stopping = True
                elif isinstance(item, threading.Event):
                    waiting.append(item)
                else:
                    pending.append(item)
                if len(pending) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = False
            if pending:
                try:
                    record(self.db, pending, self._flooded)
                except Exception:
                    self.failures += 1
                    log.exception("recording %s click(s) failed; will retry", len(pending))
                    if stopping:
                        break
                    continue  # keep them; the queue wait above is the back-off
                self.recorded += len(pending)
                pending = []
            for event in waiting:  # everything queued before it is written now
                event.set()
            waiting = []
        for event in waiting:
            event.set()

    def _run_housekeeping(self) -> None:
        if self._housekeeping is None:
            return
        self._flooded.clear()  # retention may have deleted rows
        try:
            self._housekeeping()
        except Exception:
            log.exception("click retention failed; will retry in an hour")
