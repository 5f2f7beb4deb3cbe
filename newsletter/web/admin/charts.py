"""Charts as server-rendered SVG for the admin's pages: no JavaScript, no library, nothing
the CSP has to allow (presentation attributes only, no inline styles or scripts).

Every chart has a <title> and a <desc>, each bar a <title> with its exact figure, and the
page beside it a table of the same numbers, so it reads without seeing the picture. Labels
are escaped: link labels and URLs come from articles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

INK, MUTED, GRID = "#1f2933", "#52606d", "#d9e2ec"
SERIES = {"delivered": "#2f5d62", "human_clicks": "#c8553d", "machine_clicks": "#9aa5b1",
          "conversions": "#2e7d32"}  # fmt: skip
HIGHLIGHT = "#c8553d"  # consultation ("book") links
PLAIN = "#2f5d62"


def _id(title: str) -> str:
    return "chart-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    highlight: bool = False
    note: str = ""


def _ceiling(value: int) -> int:
    """A round top for the axis (1, 2, 5 × 10^n) at or above `value`."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def timeline_chart(
    periods: Sequence[dict[str, object]], series: Sequence[str], *, title: str, width: int = 640
) -> str:
    """Grouped vertical bars per period (hour or day) for each of `series`."""
    height, left, bottom, top_pad = 220, 48, 40, 12
    inner_w, inner_h = width - left - 8, height - bottom - top_pad
    peak = _ceiling(max([int(p.get(s, 0) or 0) for p in periods for s in series] or [0]) or 1)  # type: ignore[call-overload]
    slot = inner_w / max(len(periods), 1)
    bar_w = max(min(slot / (len(series) + 1), 28), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{_id(title)}">',
        f'<title id="{_id(title)}">{escape(title)}</title>',
        f"<desc>{len(periods)} periods; the table below gives every figure.</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = top_pad + inner_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" fill="{MUTED}" '
                     f'text-anchor="end">{int(peak * fraction):,}</text>')  # fmt: skip
    label_every = max(1, len(periods) // 8)
    for index, period in enumerate(periods):
        x0 = left + index * slot + (slot - bar_w * len(series)) / 2
        name = str(period.get("period", ""))
        for k, metric in enumerate(series):
            value = int(period.get(metric, 0) or 0)  # type: ignore[call-overload]
            h = inner_h * value / peak
            y = top_pad + inner_h - h
            parts.append(
                f'<rect class="bar {metric}" x="{x0 + k * bar_w:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{SERIES.get(metric, PLAIN)}">'
                f"<title>{escape(name)}: {value:,} {metric.replace('_', ' ')}</title></rect>"
            )
        if index % label_every == 0:
            short = name[5:16].replace("T", " ").removesuffix(":00Z")
            parts.append(f'<text x="{left + (index + 0.5) * slot:.1f}" y="{height - bottom + 16}" '
                         f'font-size="10" fill="{MUTED}" text-anchor="middle">'
                         f"{escape(short)}</text>")  # fmt: skip
    legend_x = left
    for metric in series:
        parts.append(f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" '
                     f'fill="{SERIES.get(metric, PLAIN)}"/>')  # fmt: skip
        parts.append(f'<text x="{legend_x + 14}" y="{height - 5}" font-size="11" fill="{INK}">'
                     f"{escape(metric.replace('_', ' '))}</text>")  # fmt: skip
        legend_x += 120
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 640) -> str:
    """Horizontal bars, one per row (clicks per link); highlighted bars in the accent."""
    row_h, label_w, pad = 26, 220, 8
    height = max(len(bars), 1) * row_h + 2 * pad
    peak = _ceiling(max([b.value for b in bars] or [0]) or 1)
    inner = width - label_w - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{_id(title)}">',
        f'<title id="{_id(title)}">{escape(title)}</title>',
        "<desc>Highlighted bars are consultation (booking) links; the table below gives every "
        "figure.</desc>",
    ]
    for index, bar in enumerate(bars):
        y = pad + index * row_h
        w = inner * bar.value / peak
        label = bar.label if len(bar.label) <= 32 else bar.label[:31] + "…"
        colour = HIGHLIGHT if bar.highlight else PLAIN
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" font-size="12" fill="{INK}" '
                     f'text-anchor="end">{escape(label)}</text>')  # fmt: skip
        parts.append(
            f'<rect class="bar{" consultation" if bar.highlight else ""}" x="{label_w}" '
            f'y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{escape(bar.label)}: {bar.value:,}{escape(bar.note)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="12" '
                     f'fill="{INK}">{bar.value:,}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
