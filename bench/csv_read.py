"""Micro-benchmark: read and validate a subscriber CSV with 1 and 2 worker processes.

    python bench/generate_subscribers.py --rows 1000000 --out bench/data/subscribers-1m.csv
    python bench/csv_read.py bench/data/subscribers-1m.csv [--runs 3]

Prints rows/s (median of the runs) per worker count and the peak RSS of this process plus
its largest worker (resource.getrusage of self and children). No database writes: this is
the reading half of the import budget (1M rows in < 60 s including the writes).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from newsletter.audiences.attributes import load_attributes
from newsletter.audiences.csv_import import ImportRow, open_subscribers_csv

REPO = Path(__file__).resolve().parent.parent


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def read_once(path: Path, workers: int, attributes: dict) -> tuple[float, int, int]:
    started = time.perf_counter()
    rows = rejects = 0
    with open_subscribers_csv(path, attributes=attributes, workers=workers) as csv_file:
        for chunk in csv_file.chunks():
            for item in chunk:
                if type(item) is ImportRow:
                    rows += 1
                else:
                    rejects += 1
    return time.perf_counter() - started, rows, rejects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, nargs="?", default=REPO / "bench/data/subscribers-1m.csv")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if not args.csv.exists():
        parser.error(f"{args.csv} does not exist; run bench/generate_subscribers.py first")
    attributes = load_attributes(REPO / "audiences" / "attributes.yaml")
    size = args.csv.stat().st_size
    load = os.getloadavg()[0]
    print(f"{args.csv} ({size / 1e6:.1f} MB); load average {load:.1f} on {os.cpu_count()} CPUs")
    for workers in args.workers:
        times = []
        main_cpu, pool_cpu = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        for _ in range(args.runs):
            seconds, rows, rejects = read_once(args.csv, workers, attributes)
            times.append(seconds)
        main_cpu = (_cpu(resource.RUSAGE_SELF) - main_cpu) / args.runs
        pool_cpu = (_cpu(resource.RUSAGE_CHILDREN) - pool_cpu) / args.runs
        median = statistics.median(times)
        total = rows + rejects
        print(
            f"workers={workers}: {total / median:,.0f} rows/s  median {median:.2f} s "
            f"of {', '.join(f'{t:.2f}' for t in times)}  ({rows:,} rows, {rejects:,} rejects)"
            f"\n  CPU per run: main {main_cpu:.1f} s, workers {pool_cpu:.1f} s"
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS: main {own:.0f} MB + largest worker {children:.0f} MB = {own + children:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
