"""Audience benchmarks on SQLite and PostgreSQL: import 1M rows, count a segment, export 1M.

    python bench/audiences.py     # both databases, bench/data/subscribers-1000000.csv
    python bench/audiences.py --backend sqlite --rows 100000

Targets (issue #3): import < 60 s SQLite, < 90 s PostgreSQL, peak RSS < 200 MB (this process
plus the CSV reader's worker processes), every bad row in the rejects file; a three-rule segment
count (topic, declared attribute, signed up within 365 days) < 500 ms (median of 5); export
< 30 s in constant memory. Each phase runs in a fresh subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.audiences.segments import (  # noqa: E402
    All,
    AttributeCompare,
    HasTopic,
    Segment,
    SignedUpWithin,
    check_rule,
)
from newsletter.services.exports import export_subscribers  # noqa: E402
from newsletter.services.imports import import_subscribers  # noqa: E402
from newsletter.services.lists import create_list  # noqa: E402
from newsletter.services.segments import count_segment, declared_attributes  # noqa: E402
from newsletter.storage.database import Database  # noqa: E402
from newsletter.storage.schema import upgrade  # noqa: E402

PG_ADMIN = os.environ.get(
    "NEWSLETTER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
)
DEFAULT_FILE = REPO / "bench" / "data" / "subscribers-1000000.csv"
KEY = "bench-secret-key-0123456789abcdefghijkl"
SPECS = declared_attributes(REPO / "audiences")


def peak_rss_mb() -> float:
    """Peak RSS of this process plus its largest finished child (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


class TreeRss:
    """Samples the summed RSS of this process and all its descendants (the CSV reader's
    workers are children of a forkserver, so RUSAGE_CHILDREN never sees them)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak_kb, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in _tree(os.getpid())))


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(parents.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def phase_import(url: str, path: Path) -> dict:
    db = Database.from_url(url)
    upgrade(db)
    create_list(db, "bench")
    rejects = Path(tempfile.mkdtemp()) / "rejects.csv"
    started = time.perf_counter()
    with TreeRss() as tree:
        summary = import_subscribers(
            db,
            path,
            key=KEY,
            list_name="bench",
            consent_text="Benchmark consent wording.",
            specs=SPECS,
            rejects_path=rejects,
        )
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    reject_lines = sum(1 for _ in rejects.open(encoding="utf-8-sig")) - 1 if rejects.exists() else 0
    _spread_signup_dates(db)
    db.close()
    return {
        "seconds": seconds,
        "added": summary.added,
        "rejected": summary.rejected,
        "reject_lines": reject_lines,
        "peak_rss_mb": peak,
        "tree_peak_rss_mb": tree.peak_mb,
    }


def _spread_signup_dates(db: Database) -> None:
    """Imports stamp everyone 'now'; spread sign-ups over ~4 years so the 365-day rule bites."""
    with db.write() as conn:
        if db.dialect == "sqlite":
            conn.execute(
                text(
                    "UPDATE subscribers SET signed_up_at = "
                    "datetime('now', '-' || (id % 1500) || ' days')"
                )
            )
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(
                text(
                    "UPDATE subscribers SET signed_up_at = "
                    "(now() at time zone 'utc') - make_interval(days => id % 1500)"
                )
            )
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def phase_count(url: str) -> dict:
    db = Database.from_url(url)
    rule = All(
        (
            HasTopic("research-news"),
            AttributeCompare("city", "equals", "Philadelphia"),
            SignedUpWithin(365),
        )
    )
    segment = Segment("bench", check_rule(rule, SPECS))
    timings, count = [], 0
    for _ in range(6):
        started = time.perf_counter()
        count = count_segment(db, segment, now=datetime.now(UTC))
        timings.append(time.perf_counter() - started)
    db.close()
    return {
        "count": count,
        "median_ms": statistics.median(timings[1:]) * 1000,
        "first_ms": timings[0] * 1000,
    }


def phase_export(url: str) -> dict:
    db = Database.from_url(url)
    out = Path(tempfile.mkdtemp()) / "export.csv"
    started = time.perf_counter()
    with TreeRss() as tree, out.open("w", encoding="utf-8-sig", newline="") as handle:
        rows = export_subscribers(db, handle, specs=SPECS)
    seconds = time.perf_counter() - started
    db.close()
    return {
        "seconds": seconds,
        "rows": rows,
        "mb": out.stat().st_size / 1e6,
        "peak_rss_mb": peak_rss_mb(),
        "tree_peak_rss_mb": tree.peak_mb,
    }


def run_phase(phase: str, url: str, path: Path) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--url", url, "--file", str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench_backend(backend: str, path: Path) -> dict:
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
        url, cleanup = f"sqlite:///{folder / 'bench.db'}", None
    else:
        name = f"newsletter_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url, cleanup = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name
    try:
        return {
            "import": run_phase("import", url, path),
            "count": run_phase("count", url, path),
            "export": run_phase("export", url, path),
        }
    finally:
        if cleanup:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--rows", type=int, help="generate a file of this many rows instead")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = {
            "import": lambda: phase_import(args.url, args.file),
            "count": lambda: phase_count(args.url),
            "export": lambda: phase_export(args.url),
        }[args.phase]()
        print(json.dumps(result))
        return 0
    path = args.file
    if args.rows or not path.exists():
        rows = args.rows or 1_000_000
        path = REPO / "bench" / "data" / f"subscribers-{rows}.csv"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "generate_subscribers.py"),
                "--rows",
                str(rows),
                "--out",
                str(path),
            ],
            check=True,
        )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        result = bench_backend(backend, path)
        imp, cnt, exp = result["import"], result["count"], result["export"]
        print(
            f"{backend}: import {imp['added']:,} rows in {imp['seconds']:.1f} s "
            f"(peak RSS {imp['tree_peak_rss_mb']:.0f} MB process tree, "
            f"getrusage self+children {imp['peak_rss_mb']:.0f} MB, {imp['rejected']:,} rejected, "
            f"{imp['reject_lines']:,} lines in the rejects file); "
            f"segment count {cnt['count']:,} in {cnt['median_ms']:.0f} ms median "
            f"(first {cnt['first_ms']:.0f} ms); export {exp['rows']:,} rows in "
            f"{exp['seconds']:.1f} s (peak RSS {exp['tree_peak_rss_mb']:.0f} MB)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
