"""The tables `newsletter campaign stats` prints (exact figures, for staff)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from newsletter.cli.app import console


def print_stats(s: dict[str, Any]) -> None:
    """The figures as tables: exact numbers, for staff."""
    table = Table(
        title=f"Campaign {s['campaign_id']} · {s['key']} · {s['status']}", show_header=False
    )
    rows = [
        ("Recipients", s["recipients"]),
        ("Accepted", s["accepted"]),
        ("Delivered", s["delivered"]),
        ("Deferred", s["deferred"]),
        ("Bounced (hard / soft)", f"{s['bounced_hard']:,} / {s['bounced_soft']:,}"),
        ("Dropped", s["dropped"]),
        (
            "Complaints",
            f"{s['complaints']:,} ({s['complaint_rate'] * 100:.2f} %, {s['complaint_guard']})",
        ),
        ("Unsubscribes", s["unsubscribes"]),
        ("People who clicked", f"{s['human_clicks']:,} ({s['click_rate'] * 100:.1f} %)"),
        ("  consultation", s["consultation_clicks"]),
        ("Machine clicks (apart)", s["machine_clicks"]),
        ("Test clicks", s["test_clicks"]),
        ("Bookings", f"{s['conversions']:,} ({s['conversion_rate'] * 100:.2f} %)"),
    ]
    if "opens" in s:
        rows.append(("Opens (people)", f"{s['opens']:,} ({s['open_rate'] * 100:.1f} %)"))
        rows.append(("Machine opens", s["machine_opens"]))
    if s["pause_reason"]:
        rows.append(("Paused", s["pause_reason"]))
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    links = Table("Link", "Kind", "People", "Machine", "Bookings", "Destination")
    for link in s["links"]:
        figures = (f"{link[name]:,}" for name in ("human_clicks", "machine_clicks", "conversions"))
        links.add_row(link["key"], link["kind"], *figures, link["url"])
    console.print(links)
    if s["timeline"]:
        timeline = Table("Period", "Delivered", "Human clicks", "Machine clicks", "Bookings")
        for p in s["timeline"]:
            timeline.add_row(
                p["period"],
                f"{p['delivered']:,}",
                f"{p['human_clicks']:,}",
                f"{p['machine_clicks']:,}",
                f"{p['conversions']:,}",
            )
        console.print(timeline)
