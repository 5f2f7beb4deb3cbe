"""Batch and delivery states, and what to do with each provider answer.

Pure functions: `classify` turns what happened on the wire into one of a handful of
actions, `retry_delay` computes full-jitter backoff that never undercuts the provider's own
reset time, and `split` cuts a rejected batch so a bad address ends up failed alone.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal


class BatchStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    RETRY_WAIT = "retry_wait"
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"  # the request may or may not have been accepted
    NEEDS_REVIEW = "needs_review"  # unknown, and no evidence can resolve it
    SPLIT = "split"  # replaced by child batches
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    SKIPPED = "skipped"  # unsubscribed, suppressed, erased or unconfirmed at claim time
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    CANCELLED = "cancelled"


CLAIMABLE = (BatchStatus.PENDING.value, BatchStatus.RETRY_WAIT.value)
OPEN_BATCH = (
    BatchStatus.PENDING.value,
    BatchStatus.IN_FLIGHT.value,
    BatchStatus.RETRY_WAIT.value,
    BatchStatus.UNKNOWN.value,
)

Failure = Literal["refused", "timeout", "reset", "error"]


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """What happened on the wire: an HTTP status, or a transport failure."""

    status: int | None = None
    headers: dict[str, str] | None = None
    body: str = ""
    failure: Failure | None = None  # refused = nothing was sent; timeout/reset = maybe sent
    message_id: str | None = None
    detail: str = ""


class Action(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"  # definitely not accepted; try again later
    SPLIT = "split"  # the request was refused for its content; isolate the culprit
    FAIL = "fail"  # a single recipient the provider will never accept
    PAUSE = "pause"  # the campaign cannot go on until a person acts (key, credits, size)
    UNKNOWN = "unknown"  # may have been accepted: resolve from evidence, never resend blindly


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    not_before_s: float = 0.0  # the provider's own Retry-After / X-RateLimit-Reset, relative
    bad_indexes: tuple[int, ...] = ()  # personalizations a 400 named, when it names them


_FIELD_INDEX = re.compile(r"^personalizations\.(\d+)\b")


def classify(result: ProviderResult, *, live: int, now: float) -> Decision:
    """Map a provider answer for a batch of `live` recipients to what to do next."""
    if result.failure == "refused":
        return Decision(Action.RETRY, f"connection refused: {result.detail}".strip())
    if result.failure in ("timeout", "reset"):
        return Decision(Action.UNKNOWN, f"{result.failure} after the request was sent")
    if result.failure == "error" or result.status is None:
        return Decision(Action.UNKNOWN, f"transport error: {result.detail}".strip())
    status = result.status
    if status in (200, 202):
        return Decision(Action.ACCEPTED, f"{status}")
    headers = {k.lower(): v for k, v in (result.headers or {}).items()}
    if status == 429 or status in (500, 503):
        wait = provider_wait(headers, now=now)
        return Decision(Action.RETRY, f"{status} {short(result.body)}", not_before_s=wait)
    if status in (502, 504):
        return Decision(Action.UNKNOWN, f"{status}: a gateway may have forwarded the request")
    if status == 400:
        if live <= 1:
            return Decision(Action.FAIL, f"400 {short(result.body)}")
        return Decision(Action.SPLIT, f"400 {short(result.body)}", bad_indexes=bad_indexes(result))
    if status == 413:
        # The issue asks to split (the personalizations can be most of the body: 1000 × the
        # substitutions and headers); a single recipient still too large means the email
        # itself is: pause, since no split can help.
        if live <= 1:
            return Decision(Action.PAUSE, "413: the email itself is too large for SendGrid")
        return Decision(Action.SPLIT, "413 content too large")
    if status in (401, 403):
        return Decision(Action.PAUSE, f"{status} {short(result.body)}")
    return Decision(Action.PAUSE, f"unexpected {status} {short(result.body)}")


def bad_indexes(result: ProviderResult) -> tuple[int, ...]:
    """Personalization indexes named by a 400's errors (SendGrid lists every error)."""
    try:
        errors = json.loads(result.body).get("errors", [])
    except (ValueError, AttributeError):
        return ()
    found = set()
    for error in errors if isinstance(errors, list) else []:
        field = error.get("field") if isinstance(error, dict) else None
        match = _FIELD_INDEX.match(field or "")
        if not match:
            return ()  # an error not tied to one recipient: fall back to bisection
        found.add(int(match.group(1)))
    return tuple(sorted(found))


def provider_wait(headers: dict[str, str], *, now: float) -> float:
    """Seconds the provider asked us to wait (X-RateLimit-Reset epoch or Retry-After)."""
    wait = 0.0
    reset = headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        wait = max(wait, float(reset) - now)
    retry_after = headers.get("retry-after")
    if retry_after:
        retry_after = retry_after.strip()
        if retry_after.isdigit():
            wait = max(wait, float(retry_after))
        else:
            with contextlib.suppress(TypeError, ValueError):  # an unreadable date: no wait
                wait = max(wait, parsedate_to_datetime(retry_after).timestamp() - now)
    return max(wait, 0.0)


def retry_delay(
    attempt: int, *, not_before_s: float, base: float, cap: float, rng: random.Random
) -> float:
    """Full-jitter backoff (AWS), never sooner than the provider asked."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return max(rng.uniform(0, ceiling), not_before_s)


def split(items: Sequence[int], bad: Sequence[int] = ()) -> list[list[int]]:
    """Cut a refused batch: named culprits alone and the rest together, else two halves."""
    if bad and all(0 <= i < len(items) for i in bad):
        bad_set = set(bad)
        rest = [item for i, item in enumerate(items) if i not in bad_set]
        return ([rest] if rest else []) + [[items[i]] for i in sorted(bad_set)]
    middle = len(items) // 2
    return [list(items[:middle]), list(items[middle:])]


def short(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
