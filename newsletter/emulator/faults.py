"""Fault knobs (set at runtime through `POST /_emulator/faults`) and the rate-limit bucket.

Request faults, all optional (docs/emulator.md)::

    {"seed": 7,
     "next": [503, 429, {"status": 429, "retry_after": 2, "reset_in": 2, "count": 3},
              "timeout_before_accept", "timeout_after_accept", "reset_after_accept",
              "trickle_after_accept"],
     "p429": 0.05, "p5xx": 0.02, "p500": 0, "p502": 0, "p503": 0, "p401": 0,
     "p_timeout_before_accept": 0, "p_timeout_after_accept": 0.01, "p_reset_after_accept": 0,
     "latency_ms": 20 | [5, 50], "timeout_sleep_s": 3.0, "retry_after": 1, "reset_in": 1,
     "reject_regex": "@blocked\\.example$",
     "webhook": {"duplicate_factor": 2, "shuffle": true, "p_drop": 0.1, "drop_first": 1,
                 "delay_s": 0.5, "new_event_id_on_retry": true, "stale_timestamp_s": 0,
                 "p_bad_signature": 0}}

`next` entries are consumed one per `POST /v3/mail/send` (after auth), before the random ones.
A POST replaces every knob; `{}` clears them.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from newsletter.emulator.config import RateLimit

ACTIONS = (
    "timeout_before_accept",
    "timeout_after_accept",
    "reset_after_accept",
    "trickle_after_accept",
)
STATUSES = (401, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    """One decided fault: an injected status, or an action around acceptance."""

    status: int | None = None
    action: str | None = None
    retry_after: float = 1.0
    reset_in: float = 1.0


@dataclass
class WebhookFaults:
    duplicate_factor: int = 1
    shuffle: bool = False
    p_drop: float = 0.0
    drop_first: int = 0
    delay_s: float = 0.0
    new_event_id_on_retry: bool = False
    stale_timestamp_s: int = 0
    p_bad_signature: float = 0.0
    drops_done: int = field(default=0, init=False)  # posts dropped so far under drop_first


@dataclass
class FaultPlan:
    seed: int = 0
    next: deque[Fault] = field(default_factory=deque)
    p: dict[int, float] = field(default_factory=dict)  # status -> probability
    p_actions: dict[str, float] = field(default_factory=dict)
    latency_ms: tuple[float, float] = (0.0, 0.0)
    timeout_sleep_s: float = 3.0
    retry_after: float = 1.0
    reset_in: float = 1.0
    reject_regex: re.Pattern[str] | None = None
    webhook: WebhookFaults = field(default_factory=WebhookFaults)


def _parse_next(items: Any, retry_after: float, reset_in: float) -> deque[Fault]:
    out: deque[Fault] = deque()
    for item in items or ():
        spec = (
            item
            if isinstance(item, dict)
            else {"status" if isinstance(item, int) else "action": item}
        )
        status, action = spec.get("status"), spec.get("action")
        if status is not None and status not in STATUSES:
            raise ValueError(f"unsupported fault status {status!r}; use one of {STATUSES}")
        if action is not None and action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; use one of {ACTIONS}")
        if (status is None) == (action is None):
            raise ValueError("each `next` entry needs exactly one of status or action")
        fault = Fault(
            status=status,
            action=action,
            retry_after=float(spec.get("retry_after", retry_after)),
            reset_in=float(spec.get("reset_in", reset_in)),
        )
        out.extend([fault] * int(spec.get("count", 1)))
    return out


def parse_faults(spec: dict[str, Any]) -> FaultPlan:
    """Build a plan from the JSON of `POST /_emulator/faults` (ValueError on bad input)."""
    if not isinstance(spec, dict):
        raise ValueError("faults must be a JSON object")
    retry_after = float(spec.get("retry_after", 1.0))
    reset_in = float(spec.get("reset_in", retry_after))
    probs: dict[int, float] = {}
    for status in STATUSES:
        if f"p{status}" in spec:
            probs[status] = float(spec[f"p{status}"])
    if "p5xx" in spec:  # split evenly over 500, 502 and 503
        for status in (500, 502, 503):
            probs[status] = probs.get(status, 0.0) + float(spec["p5xx"]) / 3
    lat = spec.get("latency_ms", 0)
    latency = (float(lat[0]), float(lat[1])) if isinstance(lat, list) else (float(lat), float(lat))
    regex = spec.get("reject_regex")
    wh = spec.get("webhook") or {}
    unknown = set(wh) - {f for f, d in WebhookFaults.__dataclass_fields__.items() if d.init}
    if unknown:
        raise ValueError(f"unknown webhook fault knobs: {sorted(unknown)}")
    return FaultPlan(
        seed=int(spec.get("seed", 0)),
        next=_parse_next(spec.get("next"), retry_after, reset_in),
        p=probs,
        p_actions={a: float(spec[f"p_{a}"]) for a in ACTIONS if f"p_{a}" in spec},
        latency_ms=latency,
        timeout_sleep_s=float(spec.get("timeout_sleep_s", 3.0)),
        retry_after=retry_after,
        reset_in=reset_in,
        reject_regex=re.compile(regex, re.IGNORECASE) if regex else None,
        webhook=WebhookFaults(**wh),
    )


class Faults:
    """The live fault plan with its seeded RNG (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan(seed=seed)
        self.rng = random.Random(seed)

    def set(self, spec: dict[str, Any]) -> FaultPlan:
        plan = parse_faults(spec)
        with self._lock:
            self.plan = plan
            self.rng = random.Random(plan.seed)
        return plan

    def clear(self) -> None:
        self.set({})

    def latency_s(self) -> float:
        lo, hi = self.plan.latency_ms
        if hi <= 0:
            return 0.0
        with self._lock:
            return (lo if lo == hi else self.rng.uniform(lo, hi)) / 1000

    def draw(self) -> Fault | None:
        """The fault for this request, if any: scripted `next` first, then the random ones."""
        with self._lock:
            plan = self.plan
            if plan.next:
                return plan.next.popleft()
            for status, prob in plan.p.items():
                if prob > 0 and self.rng.random() < prob:
                    return Fault(
                        status=status, retry_after=plan.retry_after, reset_in=plan.reset_in
                    )
            for action, prob in plan.p_actions.items():
                if prob > 0 and self.rng.random() < prob:
                    return Fault(action=action)
        return None

    def chance(self, prob: float) -> bool:
        if prob <= 0:
            return False
        with self._lock:
            return self.rng.random() < prob


class TokenBucket:
    """`limit` tokens, refilled at limit/period per second of the emulator's clock (so moving
    that clock, `POST /_emulator/clock`, refills it; a clock stepped back refills nothing).
    `take()` → (ok, remaining, reset)."""

    def __init__(self, rate: RateLimit) -> None:
        self.limit = rate.limit
        self.per_s = rate.limit / rate.period_s
        self.tokens = float(rate.limit)
        self.stamp: float | None = None  # the clock at the last take
        self._lock = threading.Lock()

    def take(self, now_epoch: float) -> tuple[bool, int, int]:
        with self._lock:
            elapsed = 0.0 if self.stamp is None else max(0.0, now_epoch - self.stamp)
            self.tokens = min(self.limit, self.tokens + elapsed * self.per_s)
            self.stamp = now_epoch
            ok = self.tokens >= 1
            if ok:
                self.tokens -= 1
            missing = max(0.0, 1 - self.tokens)
            reset = int(now_epoch + missing / self.per_s) + 1 if missing else int(now_epoch) + 1
            return ok, int(self.tokens), reset
