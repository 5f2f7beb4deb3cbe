"""`newsletter campaign stats` on a campaign of 1,000,000 deliveries and 200,000 clicks (issue
#11), SQLite: the counters come from the real code paths (the status trigger as deliveries are
inserted, the webhook's set-wise `delivered`, the click recorder), then the stats are timed.

    python bench/stats.py [--deliveries 1000000] [--clicks 200000] [--rounds 5]

Prints the median time of `campaign_stats()` (the service the command calls) and of the whole
`newsletter campaign stats ID --json` process (Python start-up and imports included), and the
load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.clicks import CHROME, SECRET, _settings, sent_campaign  # noqa: E402


def prepare(folder: Path, deliveries: int, clicks: int) -> int:
    from sqlalchemy import text, update

    from newsletter.engagement.event_effects import EventEffects
    from newsletter.engagement.recorder import Seen, record
    from newsletter.storage.database import Database
    from newsletter.storage.sending_tables import campaigns

    settings = _settings(folder)
    db = Database.from_url(settings.database_url)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    campaign = sent_campaign(db, settings, start)
    with db.write() as conn:  # a million accepted deliveries (the status trigger counts them)
        conn.execute(update(campaigns).values(to_send=deliveries))
        conn.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                "INSERT INTO deliveries (campaign_id, batch_seq, status, accepted_at) "
                "SELECT :campaign, i / 100, 'accepted', :at FROM n"
            ),
            {"count": deliveries, "campaign": campaign, "at": start.replace(tzinfo=None)},
        )
    step = 20_000
    for first in range(1, deliveries + 1, step):  # delivered, through the webhook's set-wise path
        with db.write() as conn:
            effects = EventEffects(conn, key=SECRET, now=start)
            for d in range(first, min(first + step, deliveries + 1)):
                effects._earliest["delivered_at"][d] = start + timedelta(seconds=d % 3600)
            effects.finish()
    for first in range(0, clicks, 5000):  # clicks of distinct deliveries, through the recorder
        record(
            db,
            [
                Seen(
                    start + timedelta(hours=1, seconds=i),
                    campaign,
                    1 + (i * 7) % deliveries,
                    "L1" if i % 3 else "L2",
                    "consultation" if i % 3 else "article",
                    CHROME,
                    False,
                    "203.0.113.9",
                )
                for i in range(first, first + 5000)
            ],
        )
    db.close()
    return campaign


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--clicks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    started = time.perf_counter()
    campaign = prepare(folder, args.deliveries, args.clicks)
    print(f"prepared in {time.perf_counter() - started:.0f} s", flush=True)
    from newsletter.engagement.stats import campaign_stats
    from newsletter.storage.database import Database

    settings = _settings(folder)
    db = Database.from_url(settings.database_url)
    service, command = [], []
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": settings.database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
    }
    for _ in range(args.rounds):
        t = time.perf_counter()
        stats = campaign_stats(db, campaign, open_tracking=False)
        service.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "newsletter"),
                "campaign",
                "stats",
                str(campaign),
                "--json",
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        command.append(time.perf_counter() - t)
    reported = json.loads(out.stdout)
    assert reported["delivered"] == args.deliveries, reported["delivered"]
    assert reported["human_clicks"] + reported["machine_clicks"] > 0
    print(
        json.dumps(
            {
                "load": round(os.getloadavg()[0], 2),
                "deliveries": stats["delivered"],
                "clicks": stats["human_click_requests"] + stats["machine_clicks"],
                "service_median_ms": round(statistics.median(service) * 1000, 1),
                "command_median_ms": round(statistics.median(command) * 1000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
