"""Engagement rules on provider events (pure): a soft-bounce streak that suppresses, and the
complaint-rate guard that pauses a running campaign (docs/tracking.md, M-03..05, W-12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SOFT_BOUNCES = 3
SOFT_BOUNCE_SPAN = timedelta(days=7)
COMPLAINT_PAUSE = 0.003  # 0.3 %
COMPLAINT_WARN = 0.001  # 0.1 %
COMPLAINT_MIN_DELIVERED = 1000


@dataclass(frozen=True, slots=True)
class Streak:
    """Soft bounces (`bounce` of type `blocked`; never `deferred`) since the last delivery."""

    first_at: datetime
    last_at: datetime
    count: int

    def add(self, at: datetime) -> Streak:
        return Streak(min(self.first_at, at), max(self.last_at, at), self.count + 1)

    @property
    def suppresses(self) -> bool:
        """3 soft bounces with the first and the third at least 7 days apart."""
        return self.count >= SOFT_BOUNCES and self.last_at - self.first_at >= SOFT_BOUNCE_SPAN


def complaint_rate(complaints: int, delivered: int) -> float:
    return complaints / delivered if delivered else 0.0


def complaint_verdict(complaints: int, delivered: int) -> str:
    """`pause` at ≥ 0.3 % over ≥ 1,000 delivered, `warn` at ≥ 0.1 % (same base), else `ok`."""
    if delivered < COMPLAINT_MIN_DELIVERED:
        return "ok"
    rate = complaint_rate(complaints, delivered)
    if rate >= COMPLAINT_PAUSE:
        return "pause"
    if rate >= COMPLAINT_WARN:
        return "warn"
    return "ok"


def pause_reason(complaints: int, delivered: int) -> str:
    rate = complaint_rate(complaints, delivered) * 100
    return (
        f"complaint rate {rate:.2f} % ({complaints} of {delivered:,} delivered) reached "
        f"{COMPLAINT_PAUSE * 100:.1f} %: review the content and audience, then "
        "`newsletter campaign resume`"
    )
