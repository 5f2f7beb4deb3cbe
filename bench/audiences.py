"""Audience benchmarks on SQLite and PostgreSQL: import 1M rows, count a segment, export 1M.

    python bench/audiences.py     # both databases, bench/data/subscribers-1000000.csv
    python bench/audiences.py --backend sqlite --rows 100000

Targets (issue #3): import < 60 s SQLite, < 90 s PostgreSQL, peak RSS < 200 MB, every bad
row in the rejects file; a three-rule segment count (topic, declared attribute, signed up within
365 days) < 500 ms (median of 5); export < 30 s in constant memory. Each phase runs in a fresh
subprocess so its peak RSS is its own. The import is the real command (`newsletter subscribers
import`), its memory sampled from outside over its whole process tree (the CSV readers too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    """Peak RSS of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Samples the memory of a process and all its descendants (the import's CSV readers are
    children of multiprocessing's forkserver): each process's peak RSS, and the peaks of the
    summed RSS (pages shared between processes counted once per process) and of the summed
    PSS (shared pages split between their processes: the memory the command really takes)."""

    def __init__(self, root: int | None = None, interval: float = 0.2):
        self.root = root or os.getpid()
        self.interval, self._stop = interval, threading.Event()
        self.process_peak_kb: dict[int, int] = {}
        self.rss_sum_peak_kb = self.pss_sum_peak_kb = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict:
        peaks = [kb / 1024 for pid, kb in self.process_peak_kb.items() if pid != self.root]
        return {
            "main_peak_rss_mb": self.process_peak_kb.get(self.root, 0) / 1024,
            "largest_child_peak_rss_mb": max(peaks, default=0.0),
            "tree_rss_sum_peak_mb": self.rss_sum_peak_kb / 1024,
            "tree_pss_sum_peak_mb": self.pss_sum_peak_kb / 1024,
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss_sum = pss_sum = 0
            for pid in _tree(self.root):
                rss, pss = _rss_pss_kb(pid)
                self.process_peak_kb[pid] = max(self.process_peak_kb.get(pid, 0), rss)
                rss_sum, pss_sum = rss_sum + rss, pss_sum + pss
            self.rss_sum_peak_kb = max(self.rss_sum_peak_kb, rss_sum)
            self.pss_sum_peak_kb = max(self.pss_sum_peak_kb, pss_sum)


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


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values.get("Rss", 0), values.get("Pss", 0)


def _cli() -> list[str]:
    """The `newsletter` console script users run (it re-imports cheaply in reader processes)."""
    script = Path(sys.executable).parent / "newsletter"
    return [str(script)] if script.exists() else [sys.executable, "-m", "newsletter"]


def phase_import(url: str, path: Path) -> dict:
    """`newsletter subscribers import` in its own process, its memory sampled from outside."""
    db = Database.from_url(url)
    upgrade(db)
    create_list(db, "bench")
    db.close()
    rejects = Path(tempfile.mkdtemp()) / "rejects.csv"
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": KEY,
        "NEWSLETTER_AUDIENCES_DIR": str(REPO / "audiences"),
    }
    command = [*_cli(), "subscribers", "import", str(path), "--list", "bench",
               "--consent", "Benchmark consent wording.", "--rejects", str(rejects)]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with TreeMemory(process.pid) as memory:
        out, err = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}): {err.decode()[-2000:]}")
    db = Database.from_url(url)
    summary = " ".join(out.decode().split())  # rich wraps the summary line
    added, rejected = (int(re.search(rf"(\d+) {word}", summary).group(1))  # type: ignore[union-attr]
                       for word in ("added", "rejected"))  # fmt: skip
    reject_lines = sum(1 for _ in rejects.open(encoding="utf-8-sig")) - 1 if rejects.exists() else 0
    _spread_signup_dates(db)
    db.close()
    return {
        "seconds": seconds,
        "added": added,
        "rejected": rejected,
        "reject_lines": reject_lines,
        **memory.report(),
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
    with TreeMemory() as memory, out.open("w", encoding="utf-8-sig", newline="") as handle:
        rows = export_subscribers(db, handle, specs=SPECS)
    seconds = time.perf_counter() - started
    db.close()
    return {
        "seconds": seconds,
        "rows": rows,
        "mb": out.stat().st_size / 1e6,
        "peak_rss_mb": peak_rss_mb(),
        "tree_pss_sum_peak_mb": memory.report()["tree_pss_sum_peak_mb"],
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
            f"(peak RSS {imp['main_peak_rss_mb']:.0f} MB main process, "
            f"{imp['largest_child_peak_rss_mb']:.0f} MB largest reader; whole tree "
            f"{imp['tree_pss_sum_peak_mb']:.0f} MB PSS, {imp['tree_rss_sum_peak_mb']:.0f} MB RSS "
            f"summed; {imp['rejected']:,} rejected, "
            f"{imp['reject_lines']:,} lines in the rejects file); "
            f"segment count {cnt['count']:,} in {cnt['median_ms']:.0f} ms median "
            f"(first {cnt['first_ms']:.0f} ms); export {exp['rows']:,} rows in "
            f"{exp['seconds']:.1f} s (peak RSS {exp['peak_rss_mb']:.0f} MB)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
