"""Rendering benchmark: seed article → HTML + text, and per-recipient placeholder filling.

    python bench/render.py [--runs 200] [--recipients 100000]

Targets (issue #2): parse + Jinja + MJML median < 10 ms; filling < 20 µs per recipient.
Prints medians and a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NEWSLETTER_SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("NEWSLETTER_TEMPLATES_DIR", str(REPO / "templates"))

from newsletter.articles import load_article  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.rendering.compose import compile_email  # noqa: E402
from newsletter.rendering.placeholders import Recipient  # noqa: E402

SEED = REPO / "articles" / "neuroplasticity-ketamine.txt"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    settings = load_settings()
    today = dt.date(2026, 12, 1)

    compile_email([load_article(SEED)], settings, today=today)  # warm caches
    pipeline = []
    for _ in range(args.runs):
        start = time.perf_counter()
        compiled = compile_email([load_article(SEED)], settings, today=today)
        pipeline.append(time.perf_counter() - start)

    recipients = [
        Recipient(f"Name{i}", f"unsubscribe-token-{i:010d}", f"recipient-token-{i:010d}")
        for i in range(args.recipients)
    ]
    per_recipient = []
    for _ in range(5):
        start = time.perf_counter()
        for recipient in recipients:
            compiled.personalize(recipient)
        per_recipient.append((time.perf_counter() - start) / len(recipients))

    html_bytes = len(compiled.html.source.encode())
    p_ms = statistics.median(pipeline) * 1000
    f_us = statistics.median(per_recipient) * 1e6
    print(
        f"seed article → HTML ({html_bytes:,} B) + text: median {p_ms:.2f} ms "
        f"over {args.runs} runs (target < 10 ms: {10 / p_ms:.1f}× under)"
    )
    print(
        f"personalize (HTML + text + headers): median {f_us:.2f} µs per recipient "
        f"over 5 × {args.recipients:,} (target < 20 µs: {20 / f_us:.1f}× under)"
    )
    print()
    print("| Measure | Median | Target | Ratio to target |")
    print("|---|---|---|---|")
    print(
        f"| seed article → HTML + text (parse + Jinja + MJML) | {p_ms:.2f} ms | < 10 ms "
        f"| {p_ms / 10:.2f} |"
    )
    print(f"| fill per-recipient placeholders | {f_us:.2f} µs | < 20 µs | {f_us / 20:.2f} |")


if __name__ == "__main__":
    main()
