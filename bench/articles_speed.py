"""Article import speed: bytes → Article, in process (issue #12's targets).

    python bench/articles_speed.py [--runs 30] [--repo PATH]

- a 150 KB HTML page → Article: median < 100 ms
- a 1.2 MB HTML page → Article: median < 200 ms
- a Markdown post and a text post → Article: median < 5 ms

The pages are built deterministically from the hand-written fixtures: the WordPress page
(tests/data/html/wordpress-sidebar-comments.html) with its comments, sidebar and footer
repeated to 150 KB, as long pages are; and the news-site page with the inline scripts,
JSON state and SVG sprites a modern page carries, to 1.2 MB. Each median comes with the
CPU time of the process over the same runs (steadier than wall time when the machine's
cores are shared). `--repo` measures another checkout's importer in the same way (e.g.
/work/main, the code before issue #12) — run both in one session for a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def page_150k() -> bytes:
    page = (REPO / "tests" / "data" / "html" / "wordpress-sidebar-comments.html").read_text()
    start, end = page.index('<div id="comments"'), page.index("</body>")
    comments = page[start:end]
    filler = []
    while len(page) + sum(map(len, filler)) < 150_000:
        filler.append(comments.replace('id="comments"', f'id="comments-{len(filler)}"'))
    return (page[:end] + "".join(filler) + page[end:]).encode()[:150_000].rsplit(b"<", 1)[0]


def page_1_2m() -> bytes:
    page = REPO / "tests" / "articles" / "corpus" / "html" / "news-site-loneliness-study.html"
    text = page.read_text()
    state = {
        "stories": [{"id": i, "headline": f"Story {i}", "body": "x" * 400} for i in range(1800)]
    }
    sprite = "".join(
        f'<symbol id="icon-{i}" viewBox="0 0 24 24"><path d="M{i} 0L24 {i}Z"/></symbol>'
        for i in range(4000)
    )
    blob = (
        f"<script>window.__STATE__={json.dumps(state)};</script>"
        f'<svg style="display:none">{sprite}</svg>'
        + "<style>"
        + ".c{color:#123}" * 6000
        + "</style>"
    )
    head_end = text.index("</head>")
    body_end = text.index("</body>")
    built = text[:head_end] + blob + text[head_end:body_end] + text[body_end:]
    return built.encode()


def markdown_post() -> bytes:
    return (
        REPO / "tests" / "articles" / "corpus" / "markdown" / "hugo-ketamine-faq.md"
    ).read_bytes()


def seed_markdown() -> bytes:
    return (REPO / "tests" / "data" / "seed" / "neuroplasticity-ketamine.md").read_bytes()


def text_post() -> bytes:
    return (
        REPO / "tests" / "articles" / "corpus" / "text" / "wordpress-copied-ketamine-ptsd.txt"
    ).read_bytes()


def measure(parse, data: bytes, name: str, runs: int) -> tuple[float, float]:
    parse(data, name=name)  # warm: imports, compiled patterns
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        parse(data, name=name)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from newsletter.articles import parse_article

    cases = [
        ("HTML page, 150 KB", page_150k(), "page.html", 100.0),
        ("HTML page, 1.2 MB", page_1_2m(), "page.html", 200.0),
        ("Markdown post (Hugo, TOML, shortcodes)", markdown_post(), "post.md", 5.0),
        ("Markdown seed article", seed_markdown(), "post.md", 5.0),
        ("text post (copied from a page)", text_post(), "post.txt", 5.0),
        (
            "text seed article",
            (REPO / "articles" / "neuroplasticity-ketamine.txt").read_bytes(),
            "post.txt",
            5.0,
        ),
    ]
    print(f"importer: {args.repo}  load: {os.getloadavg()[0]:.2f} (1 min)")
    print("| Input | Size | Median wall | Median CPU | Target | Wall / target |")
    print("|---|---|---|---|---|---|")
    for label, data, name, target in cases:
        try:
            wall, cpu = measure(parse_article, data, name, args.runs)
        except Exception as error:  # the old importer refuses some inputs
            print(f"| {label} | {len(data) / 1024:,.0f} KB | refused: {error} | | | |")
            continue
        print(
            f"| {label} | {len(data) / 1024:,.0f} KB | {wall:.1f} ms | {cpu:.1f} ms "
            f"| < {target:g} ms | {wall / target:.2f} |"
        )


if __name__ == "__main__":
    main()
