"""Login throttling (pure): a progressive delay after a few failures, then a lock.

Counted per account (by the address typed, so an unknown address is throttled exactly like a
known one and the answer reveals nothing) and per client address. After `delay_after`
consecutive failures each further attempt must wait 1, 2, 4 … s (capped); at `lock_after` the
key is locked for `lock_for`; it unlocks by itself then, or earlier by an admin
(`newsletter users unlock`). An account that keeps failing after its locks reaches
`hard_lock_after` (never more than 100 consecutive failures, NIST SP 800-63B §5.2.2) and
stays locked until an admin unlocks it. A success clears the account's counter, never the
address's, so one valid account cannot launder attempts against others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FOREVER = timedelta(days=365 * 100)


@dataclass(frozen=True)
class Policy:
    delay_after: int
    lock_after: int
    lock_for: timedelta
    hard_lock_after: int | None = None
    max_delay_s: int = 60
    forget_after: timedelta = timedelta(hours=24)  # a quiet day starts the count afresh


ACCOUNT = Policy(delay_after=5, lock_after=10, lock_for=timedelta(minutes=15), hard_lock_after=100)
ADDRESS = Policy(delay_after=10, lock_after=50, lock_for=timedelta(minutes=15))


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0
    locked: bool = False


def current(counter: Counter, policy: Policy, now: datetime) -> Counter:
    """The counter as it stands at `now` (forgotten after a quiet `forget_after`)."""
    if counter.locked_until is not None and counter.locked_until > now:
        return counter
    last = counter.last_failure_at
    if last is None or now - last >= policy.forget_after:
        return Counter()
    return counter


def verdict(counter: Counter, policy: Policy, now: datetime) -> Verdict:
    """May an attempt be evaluated now? Refused attempts are not evaluated and not counted."""
    counter = current(counter, policy, now)
    if counter.locked_until is not None and counter.locked_until > now:
        return Verdict(False, _seconds(counter.locked_until - now), locked=True)
    wait = delay_s(counter.failures, policy)
    if wait and counter.last_failure_at is not None:
        ready = counter.last_failure_at + timedelta(seconds=wait)
        if ready > now:
            return Verdict(False, _seconds(ready - now))
    return Verdict(True)


def after_failure(counter: Counter, policy: Policy, now: datetime) -> Counter:
    failures = current(counter, policy, now).failures + 1
    locked_until = None
    if policy.hard_lock_after is not None and failures >= policy.hard_lock_after:
        locked_until = now + FOREVER
    elif failures >= policy.lock_after and (failures - policy.lock_after) % policy.delay_after == 0:
        # locked at 10, then again every 5 failures after an expired lock (15, 20 …)
        locked_until = now + policy.lock_for
    return Counter(failures, now, locked_until)


def delay_s(failures: int, policy: Policy) -> int:
    """Seconds to wait after `failures` consecutive failures: 0 below the threshold."""
    if failures < policy.delay_after:
        return 0
    return min(2 ** (failures - policy.delay_after), policy.max_delay_s)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))
