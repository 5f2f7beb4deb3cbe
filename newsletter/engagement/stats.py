"""`newsletter campaign stats`: a campaign's outcome, read from its counters.

Every figure comes from `campaign_counters` (kept as events, clicks and bookings arrive, and
by triggers as deliveries change status) plus the campaign and link rows: a read of a few
hundred rows whatever the campaign's size, never a scan of deliveries or clicks.

Rates use the delivered count as their base (the accepted count when no delivery events
came). `human_clicks` and `consultation_clicks` count people (unique clickers); machine
clicks count requests. The timeline is per hour for the first 48 hours from the start, then
per day. The CLI prints exact figures; CSV exports show 1–4 per link or per period as "<5".
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from newsletter.domain.sending import DeliveryStatus
from newsletter.engagement.bounce_rules import complaint_rate, complaint_verdict
from newsletter.engagement.rounding import small_count
from newsletter.storage import campaign_store, counter_store, link_store
from newsletter.storage.database import Database

HOURLY_FOR = timedelta(hours=48)
TIMELINE_METRICS = ("delivered", "human_clicks", "machine_clicks", "conversions")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def campaign_stats(db: Database, campaign_id: int, *, open_tracking: bool) -> dict[str, Any]:
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        counts = counter_store.counts_of(conn, campaign_id)
        links = link_store.links_of(conn, campaign_id)

    def c(name: str, scope: str = "") -> int:
        return counts.get((scope, name), 0)

    statuses = {s.value: c(f"status:{s.value}") for s in DeliveryStatus if s.value != "pending"}
    recipients = int(row.to_send or 0)
    delivered, accepted = c("delivered"), statuses["accepted"]
    base = delivered or accepted
    stats: dict[str, Any] = {
        "campaign_id": row.id,
        "key": row.key,
        "status": row.status,
        "pause_reason": row.pause_reason,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "recipients": recipients,
        "pending": max(recipients - sum(statuses.values()), 0),
        **statuses,
        "delivered": delivered,
        "deferred": c("deferred"),
        "bounced": c("bounced_hard") + c("bounced_soft"),
        "bounced_hard": c("bounced_hard"),
        "bounced_soft": c("bounced_soft"),
        "dropped": c("dropped"),
        "complaints": c("complaints"),
        "complaint_rate": round(complaint_rate(c("complaints"), delivered), 5),
        "complaint_guard": complaint_verdict(c("complaints"), delivered),
        "unsubscribes": c("unsubscribes"),
        "human_clicks": c("human_clickers"),
        "click_rate": _rate(c("human_clickers"), base),
        "human_click_requests": c("human_clicks"),
        "machine_clicks": c("machine_clicks"),
        "consultation_clicks": c("consultation_clickers"),
        "test_clicks": c("test_clicks"),
        "conversions": c("conversions"),
        "conversion_rate": _rate(c("conversions"), base),
    }
    if open_tracking:
        stats["opens"] = c("human_openers")
        stats["open_rate"] = _rate(c("human_openers"), base)
        stats["machine_opens"] = c("machine_opens")
    stats["links"] = [
        {
            "key": link.key,
            "kind": link.kind,
            "url": link.url,
            "label": link.label,
            "human_clicks": c("human_clickers", link.key),
            "machine_clicks": c("machine_clicks", link.key),
            "conversions": c("conversions", link.key),
            "test_clicks": c("test_clicks", link.key),
        }
        for link in links
        if link.kind not in ("honeypot", "unsubscribe")
    ]
    stats["timeline"] = timeline(counts, row.started_at or row.created_at)
    return stats


def timeline(counts: dict[tuple[str, str], int], start: datetime) -> list[dict[str, Any]]:
    """Per hour for the first 48 hours from `start`, then per day; periods with nothing
    are left out."""
    start_hour = start.replace(minute=0, second=0, microsecond=0)
    periods: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TIMELINE_METRICS, 0))
    for (scope, name), value in counts.items():
        if not scope.startswith("h:") or name not in TIMELINE_METRICS:
            continue
        hour = datetime.strptime(scope[2:], "%Y-%m-%dT%H").replace(tzinfo=start.tzinfo)
        hourly = hour < start_hour + HOURLY_FOR
        period = f"{hour:%Y-%m-%dT%H}:00Z" if hourly else f"{hour:%Y-%m-%d}"
        periods[period][name] += value
    return [{"period": period, **values} for period, values in sorted(periods.items())]


def stats_csv(stats: dict[str, Any]) -> str:
    """One row per figure: `section,name,kind,metric,value`. Campaign totals are exact;
    figures per link and per period of 1–4 show as "<5" (never a person in a cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "kind", "metric", "value"])
    for name, value in stats.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            writer.writerow(["campaign", stats["key"], "", name, value])
    for link in stats["links"]:
        for metric in ("human_clicks", "machine_clicks", "conversions", "test_clicks"):
            writer.writerow(["link", link["key"], link["kind"], metric, small_count(link[metric])])
    for period in stats["timeline"]:
        section = "hour" if "T" in period["period"] else "day"
        for metric in TIMELINE_METRICS:
            writer.writerow([section, period["period"], "", metric, small_count(period[metric])])
    return out.getvalue()
