"""Compile cost: mjml-python (MRML, in process) against the reference mjml compiler (node).

The MJML compiled is what production compiles: the post-Jinja source of the seed article
email (text and Markdown seeds), of the digest of both, and of the confirmation email,
recorded from `compile_mjml`'s argument. mjml-python runs in this process; mjml 4.18 (the
reference) and mjml 5 run in ONE long-running node process each (tools/mjml-compile.mjs),
which times every compilation itself, so the figures are compile cost, not node start-up
or the pipe. The pipe round trip and one `npx mjml` CLI invocation (what a subprocess per
email would cost) are reported separately. Medians over N runs, after a warm-up.

    .venv/bin/python bench/mjml_compare.py [-n 200]

Prints a markdown table for docs/benchmarks.md. Needs `npm ci` at the repository root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parent.parent

COMPILE_SCRIPT = REPO / "tools" / "mjml-compile.mjs"
SEED_TEXT = REPO / "articles" / "neuroplasticity-ketamine.txt"
SEED_MARKDOWN = REPO / "tests" / "data" / "seed" / "neuroplasticity-ketamine.md"
TODAY = dt.date(2026, 11, 27)
WARMUP = 20


def sources() -> dict[str, str]:
    """The MJML that production passes to compile_mjml, per template."""
    from newsletter.articles import load_article
    from newsletter.config import load_settings
    from newsletter.rendering import compose
    from newsletter.rendering import mjml as rendering_mjml
    from newsletter.rendering.confirm import render_confirmation

    settings = load_settings(
        secret_key="bench-secret-key-0123456789abcdefghijklmnop",
        templates_dir=REPO / "templates",
    )
    text, markdown = load_article(SEED_TEXT), load_article(SEED_MARKDOWN)
    builds: dict[str, Callable[[], object]] = {
        "article (text seed)": lambda: compose.compile_email([text], settings, today=TODAY),
        "article (Markdown seed, hero image)": lambda: compose.compile_email(
            [markdown], settings, today=TODAY
        ),
        "digest (2 articles)": lambda: compose.compile_email(
            [text, markdown], settings, template="digest", today=TODAY
        ),
        "confirm": lambda: render_confirmation(
            settings, confirm_url="https://mindstream.example/confirm/abc", first_name="Alex"
        ),
    }
    out = {}
    for name, build in builds.items():
        with mock.patch.object(compose, "compile_mjml", wraps=rendering_mjml.compile_mjml) as spy:
            build()
        out[name] = spy.call_args.args[0]
    return out


def time_mrml(source: str, n: int) -> list[float]:
    from newsletter.rendering.mjml import compile_mjml

    for _ in range(WARMUP):
        compile_mjml(source, where="bench")
    times = []
    for _ in range(n):
        start = time.perf_counter()
        compile_mjml(source, where="bench")
        times.append((time.perf_counter() - start) * 1000)
    return times


class NodeCompiler:
    """One long-running `node tools/mjml-compile.mjs --major M` process."""

    def __init__(self, major: str) -> None:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is not on PATH")
        self.process = subprocess.Popen(
            [node, str(COMPILE_SCRIPT), "--major", major],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def request(self, mjml: str, repeat: int = 1) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"mjml": mjml, "repeat": repeat}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{COMPILE_SCRIPT.name} stopped: run `npm ci` at the repository root")
        answer = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"mjml failed: {answer['error']}")
        return answer

    def compile_times(self, mjml: str, n: int) -> tuple[list[float], str]:
        self.request(mjml, repeat=WARMUP)
        answer = self.request(mjml, repeat=n)
        return answer["ms"], answer["version"]

    def round_trips(self, mjml: str, n: int) -> list[float]:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            self.request(mjml)
            times.append((time.perf_counter() - start) * 1000)
        return times

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def time_cli(source: str, runs: int = 3) -> list[float]:
    """Wall time of `npx --no-install mjml FILE -s`: node start-up + mjml load + compile."""
    npx = shutil.which("npx")
    if npx is None:
        raise SystemExit("npx is not on PATH")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "email.mjml"
        path.write_text(source, encoding="utf-8")
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [npx, "--no-install", "mjml", str(path), "-s"],
                cwd=REPO,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="compilations per template (200)")
    parser.add_argument("--no-mjml5", action="store_true", help="skip mjml 5")
    args = parser.parse_args()
    if not (REPO / "node_modules" / "mjml").is_dir():
        raise SystemExit("the reference compiler is missing: run `npm ci` at the repository root")

    docs = sources()
    majors = ["4"] if args.no_mjml5 else ["4", "5"]
    nodes = {major: NodeCompiler(major) for major in majors}
    versions: dict[str, str] = {}
    rows = []
    try:
        for name, source in docs.items():
            row: dict[str, Any] = {"name": name, "kb": len(source.encode()) / 1024}
            row["mrml"] = statistics.median(time_mrml(source, args.n))
            for major, node in nodes.items():
                times, versions[major] = node.compile_times(source, args.n)
                row[major] = statistics.median(times)
            row["pipe"] = statistics.median(nodes["4"].round_trips(source, min(args.n, 50)))
            rows.append(row)
            print(f"  {name}: done", file=sys.stderr)
    finally:
        for node in nodes.values():
            node.close()
    cli = statistics.median(time_cli(docs["article (text seed)"]))

    print(
        f"mjml-python {metadata.version('mjml-python')} (in process) vs mjml "
        + " / ".join(versions[m] for m in majors)
        + f" (node {subprocess.check_output(['node', '--version'], text=True).strip()}, "
        "one long-running process, compile time measured inside node); "
        f"median of {args.n} compilations after {WARMUP} warm-up; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.machine()}.\n"
    )
    head = ["Template (post-Jinja MJML)", "MJML size", "mjml-python", "mjml 4.18 (node)", "ratio"]
    if "5" in nodes:
        head += ["mjml 5 (node)", "ratio"]
    head.append("mjml 4.18 via pipe")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for row in rows:
        cells = [
            row["name"],
            f"{row['kb']:.1f} KB",
            f"{row['mrml']:.3f} ms",
            f"{row['4']:.2f} ms",
            f"{row['4'] / row['mrml']:.0f}×",
        ]
        if "5" in nodes:
            cells += [f"{row['5']:.2f} ms", f"{row['5'] / row['mrml']:.0f}×"]
        cells.append(f"{row['pipe']:.2f} ms")
        print("| " + " | ".join(cells) + " |")
    total_mrml = sum(r["mrml"] for r in rows)
    total_ref = sum(r["4"] for r in rows)
    print(
        f"\nAll four templates: mjml-python {total_mrml:.2f} ms, mjml 4.18 {total_ref:.2f} ms "
        f"({total_ref / total_mrml:.0f}× faster in process)."
    )
    print(
        f"One `npx mjml` CLI invocation (article, node start-up included): {cli:.0f} ms "
        f"({cli / rows[0]['mrml']:.0f}× one mjml-python compile)."
    )


if __name__ == "__main__":
    main()
