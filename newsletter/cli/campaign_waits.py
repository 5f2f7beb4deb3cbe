"""What a sending campaign is waiting for, shown by `campaign status` and `campaign send`:
never a silent wait (services/leases.py says why, and until when)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from newsletter.services.leases import waits
from newsletter.storage.database import Database


def wait_lines(db: Database, campaign_id: int) -> list[str]:
    now = datetime.now(UTC)
    return [wait.describe(now) for wait in waits(db, campaign_id, now=now)]


class WaitTicker:
    """For the progress bar: at most once a second, the first wait (with its countdown) for
    the bar's detail; each new reason is also printed once above the bar, in full."""

    def __init__(self, db: Database, campaign_id: int, *, every_s: float = 1.0):
        self.db, self.campaign_id, self.every_s = db, campaign_id, every_s
        self._next = 0.0
        self._said: set[str] = set()
        self.summary = ""

    def update(self, say) -> str:  # type: ignore[no-untyped-def]
        if time.monotonic() < self._next:
            return self.summary
        self._next = time.monotonic() + self.every_s
        now = datetime.now(UTC)
        found = waits(self.db, self.campaign_id, now=now)
        for wait in found:
            if wait.reason not in self._said:
                self._said.add(wait.reason)
                say(f"Waiting: {wait.describe(now)}.")
        self.summary = f" · waiting: {found[0].describe(now)}" if found else ""
        return self.summary
