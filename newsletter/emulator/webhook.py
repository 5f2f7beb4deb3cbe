"""Signed Event Webhook: ECDSA P-256/SHA-256 signing and background batched delivery.

Each post is a compact JSON array + CRLF; the signature covers `timestamp + body` and is sent
as base64 DER in `X-Twilio-Email-Event-Webhook-Signature`, the decimal unix-second timestamp in
`X-Twilio-Email-Event-Webhook-Timestamp`. Non-2xx answers and connection errors are retried
with exponential backoff; redirects are never followed.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.emulator.config import WebhookConfig
from newsletter.emulator.events import Encoded, new_event_id
from newsletter.emulator.faults import Faults

_KEEP_BODIES = 50
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class Signer:
    """A fixed P-256 key derived from an integer scalar (reproducible test fixtures)."""

    def __init__(self, scalar: int) -> None:
        self._key = ec.derive_private_key(scalar, ec.SECP256R1())
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_b64 = base64.b64encode(der).decode("ascii")

    def sign(self, timestamp: str, body: bytes) -> str:
        sig = self._key.sign(
            timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        )
        return base64.b64encode(sig).decode("ascii")


class _Pending:
    __slots__ = ("attempt", "due", "event_id", "not_before", "raw")

    def __init__(self, raw: bytes, event_id: str, due: float, not_before: float) -> None:
        self.raw = raw  # the event's compact JSON
        self.event_id = event_id
        self.due = due  # monotonic: lag window / retry backoff
        self.not_before = not_before  # emulated epoch: scheduled sends (send_at)
        self.attempt = 0

    def set_event_id(self, event_id: str) -> None:
        old = f'"sg_event_id":"{self.event_id}"'.encode()
        self.raw = self.raw.replace(old, f'"sg_event_id":"{event_id}"'.encode(), 1)
        self.event_id = event_id


class WebhookDispatcher:
    """Queues events and posts them from one background thread (or on `flush()`)."""

    def __init__(
        self,
        url: str | None,
        signer: Signer,
        config: WebhookConfig,
        faults: Faults,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.signer = signer
        self.config = config
        self.faults = faults
        self.clock = clock
        self.deliveries: list[dict[str, Any]] = []
        self.stats = {"events_queued": 0, "posts": 0, "posts_failed": 0, "posts_dropped": 0,
                      "events_delivered": 0}  # fmt: skip
        self._queue: deque[_Pending] = deque()
        self._later: list[_Pending] = []
        self._cond = threading.Condition()
        self._post_lock = threading.Lock()
        self._stop = False
        self._seq = 0
        self._client = httpx.Client(follow_redirects=False, trust_env=False,
                                    timeout=config.timeout_s)  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="emulator-webhook", daemon=True)
        self._thread.start()

    # -- queueing ----------------------------------------------------------------------------
    def enqueue(self, items: list[Encoded]) -> None:
        """Queue encoded events (see `events.expand`), applying the duplicate/delay knobs."""
        if not self.url or not items:
            return
        wf = self.faults.plan.webhook
        due = time.monotonic() + self.config.lag_s + wf.delay_s
        entries = [_Pending(raw, eid, due, nb) for nb, raw, eid in items]
        if wf.duplicate_factor > 1:
            entries += [_Pending(e.raw, e.event_id, due, e.not_before) for e in entries
                        for _ in range(wf.duplicate_factor - 1)]  # fmt: skip
        with self._cond:
            self._queue.extend(entries)
            self.stats["events_queued"] += len(entries)
            self._cond.notify()

    def pending_count(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._later)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._later.clear()
            self.deliveries.clear()
            for key in self.stats:
                self.stats[key] = 0

    # -- delivery ----------------------------------------------------------------------------
    def _take(self, ignore_due: bool) -> list[_Pending]:
        """Remove and return the next batch of ready events (caller holds the condition).

        Fresh events wait in a FIFO (`_queue`, due in order); retries and events held for a
        future `send_at` wait in `_later`, which is scanned (it is small in practice).
        """
        mono, epoch = time.monotonic(), self.clock()
        max_events, max_bytes = self.config.batch_max_events, self.config.batch_max_bytes
        batch: list[_Pending] = []
        size = 2  # "[" and "]"; each event adds its length and a comma
        if self._later:
            keep: list[_Pending] = []
            for p in self._later:
                n = len(p.raw) + 1
                if (
                    (ignore_due or p.due <= mono)
                    and p.not_before <= epoch
                    and (not batch or (len(batch) < max_events and size + n <= max_bytes))
                ):
                    batch.append(p)
                    size += n
                else:
                    keep.append(p)
            self._later = keep
        queue = self._queue
        while queue and len(batch) < max_events:
            p = queue[0]
            if not ignore_due and p.due > mono:
                break
            if p.not_before > epoch:
                self._later.append(queue.popleft())
                continue
            n = len(p.raw) + 1
            if batch and size + n > max_bytes:
                break
            batch.append(queue.popleft())
            size += n
        if batch and self.faults.plan.webhook.shuffle:
            random.Random(self.faults.rng.random()).shuffle(batch)
        return batch

    def _retry(self, batch: list[_Pending]) -> None:
        wf = self.faults.plan.webhook
        mono = time.monotonic()
        for p in batch:
            p.attempt += 1
            p.due = mono + min(
                self.config.retry_max_s, self.config.retry_base_s * 2 ** (p.attempt - 1)
            )
            if wf.new_event_id_on_retry:
                p.set_event_id(new_event_id())
        keep = [p for p in batch if p.attempt < self.config.retry_max_attempts]
        with self._cond:
            self._later.extend(keep)

    def _post(self, batch: list[_Pending]) -> bool:
        wf = self.faults.plan.webhook
        assert self.url is not None  # posting is only started with a webhook URL (`_run`)
        body = b"[" + b",".join(p.raw for p in batch) + b"]"
        if self.config.append_crlf:
            body += b"\r\n"
        ts = str(int(self.clock()) - wf.stale_timestamp_s)
        sig = self.signer.sign(ts, body)
        bad = self.faults.chance(wf.p_bad_signature)
        if bad:
            sig = self.signer.sign(ts, body + b" ")
        self._seq += 1
        record: dict[str, Any] = {
            "id": self._seq, "time": self.clock(), "url": self.url, "events": len(batch),
            "attempt": max(p.attempt for p in batch), "timestamp": ts, "signature": sig,
            "bad_signature": bad, "status": None, "error": None, "dropped": False,
            "body": body.decode("utf-8"),
        }  # fmt: skip
        dropped = wf.drops_done < wf.drop_first or self.faults.chance(wf.p_drop)
        if wf.drops_done < wf.drop_first:
            wf.drops_done += 1
        self.stats["posts"] += 1
        ok = False
        if dropped:
            record["dropped"] = True
            self.stats["posts_dropped"] += 1
        else:
            try:
                resp = self._client.post(self.url, content=body, headers={
                    "Content-Type": "application/json", "User-Agent": "SendGrid Event API",
                    SIGNATURE_HEADER: sig, TIMESTAMP_HEADER: ts,
                })  # fmt: skip
                record["status"] = resp.status_code
                ok = 200 <= resp.status_code < 300
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
        if ok:
            self.stats["events_delivered"] += len(batch)
        else:
            self.stats["posts_failed"] += 0 if dropped else 1
            self._retry(batch)
        self.deliveries.append(record)
        del self.deliveries[: -self.config.keep_deliveries]
        if len(self.deliveries) > _KEEP_BODIES:  # bodies of older posts are dropped (memory)
            self.deliveries[-_KEEP_BODIES - 1].pop("body", None)
        return ok

    def flush(self) -> dict[str, int]:
        """Post everything ready now, ignoring the lag window and backoff. Bounded: at most as
        many events as were pending are posted, so a dead receiver cannot make it loop."""
        posts = events = 0
        with self._post_lock:
            with self._cond:
                limit = len(self._queue) + len(self._later)
            while events < limit:
                with self._cond:
                    batch = self._take(ignore_due=True)
                if not batch:
                    break
                self._post(batch)
                posts += 1
                events += len(batch)
        return {"posts": posts, "events": events, "pending": self.pending_count()}

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                batch = self._take(ignore_due=False) if self.url else []
                if not batch:
                    self._cond.wait(timeout=0.05)
                    continue
            with self._post_lock:
                try:
                    self._post(batch)
                except Exception as exc:  # never let the delivery thread die
                    self.deliveries.append(
                        {"error": f"{type(exc).__name__}: {exc}", "events": len(batch)}
                    )
                    self._retry(batch)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
        self._client.close()
