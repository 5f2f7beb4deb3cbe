"""Template rendering in the worker process vs in process (issue #13): what isolation costs.

    python bench/render_isolation.py [--runs 300] [--starts 10]

The seed article's templates (`article.mjml` + `article.txt` + MJML), measured in one run:
in process (`rendering.worker.render_pair`, the work the worker does, called directly), through
the warm worker (`rendering.isolated.render_pair`: encode, pipe, render, pipe, decode), the
whole `compile_email` a caller sees, and the worker's cold start (interpreter + imports, from
spawn to its ready frame). Medians and p95 in milliseconds, with the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NEWSLETTER_SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("NEWSLETTER_TEMPLATES_DIR", str(REPO / "templates"))

from newsletter.articles import load_article  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.rendering import isolated  # noqa: E402
from newsletter.rendering.compose import compile_email  # noqa: E402
from newsletter.rendering.sandbox import RenderLimits  # noqa: E402
from newsletter.rendering.worker import render_pair as render_in_process  # noqa: E402
from newsletter.rendering.worker_protocol import encode  # noqa: E402

SEED = REPO / "articles" / "neuroplasticity-ketamine.txt"


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    settings = load_settings()
    today = dt.date(2026, 12, 1)
    article = load_article(SEED)

    captured: dict = {}
    original = isolated.render_pair

    def capture(folder, template, context, text_overrides, **kwargs):  # type: ignore[no-untyped-def]
        captured.update(folder=folder, template=template, context=context,
                        text_overrides=text_overrides)  # fmt: skip
        return original(folder, template, context, text_overrides, **kwargs)

    isolated.render_pair = capture  # type: ignore[assignment]
    compile_email([article], settings, today=today)
    isolated.render_pair = original  # type: ignore[assignment]
    request = {
        "folder": str(Path(captured["folder"]).resolve()),
        "template": captured["template"],
        "context": encode(captured["context"]),
        "text_overrides": encode(captured["text_overrides"]),
        "limits": asdict(RenderLimits()),
    }

    def in_process() -> None:
        render_in_process(request)

    def through_worker() -> None:
        isolated.render_pair(
            captured["folder"],
            captured["template"],
            captured["context"],
            captured["text_overrides"],
            timeout_s=settings.render_timeout_s,
        )

    def whole() -> None:
        compile_email([article], settings, today=today)

    results = {}
    for name, function in (("in process", in_process), ("worker (warm)", through_worker),
                           ("compile_email via worker", whole)):  # fmt: skip
        for _ in range(20):
            function()  # warm caches and the worker
        samples = []
        for _ in range(args.runs):
            start = time.perf_counter()
            function()
            samples.append(time.perf_counter() - start)
        results[name] = _ms(samples)

    starts = []
    for _ in range(args.starts):
        isolated.WORKER.close()
        start = time.perf_counter()
        isolated.WORKER.ensure_started()
        starts.append(time.perf_counter() - start)
    results["worker cold start"] = _ms(starts)

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.runs} renders each")
    print("| path | median ms | p95 ms |\n|---|---:|---:|")
    for name, (median, p95) in results.items():
        print(f"| {name} | {median:.2f} | {p95:.2f} |")
    overhead = results["worker (warm)"][0] - results["in process"][0]
    ratio = results["worker (warm)"][0] / results["in process"][0]
    print(f"worker overhead per render: {overhead:.2f} ms (×{ratio:.2f} the in-process median)")


if __name__ == "__main__":
    main()
