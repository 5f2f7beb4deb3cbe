"""The large crash-and-stall torture run:
`python bench/torture.py --seeds 1000 --process-seeds 20 [--stalls 0.03] [--no-hogs]`.

Same harness as the CI gate (tests/sending/test_torture.py), with a CPU hog on every core
unless `--no-hogs`. Thread seeds: a campaign to 40 people with crashes at named points and,
with probability `--stalls` at each send_batch failpoint, a sender stalled for 1.2–2.5
leases; 3 concurrent executors, 10 % 429, 5 % 5xx, 5 % timeouts after accept. Process seeds:
real `newsletter campaign send` executors at the production ratios scaled down, SIGKILLed
and SIGSTOPped past their lease. Each seed is checked against the emulator's log (no
duplicate, no loss, ledger = log, nothing left open). Prints a summary line and exits 1 on
any violation.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from tests.sending.harness import Torture  # noqa: E402
from tests.sending.stalls import cpu_hogs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--process-seeds", type=int, default=0)
    parser.add_argument("--first", type=int, default=10_000)
    parser.add_argument("--stalls", type=float, default=0.03)
    parser.add_argument("--no-hogs", action="store_true", help="run without CPU hogs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="torture-"))
    os.chdir(folder)
    harness = Torture(folder)
    totals: Counter = Counter()
    failures = []
    started = time.monotonic()

    def note(result, **kinds) -> None:  # type: ignore[no-untyped-def]
        totals.update(
            recipients=result.recipients,
            duplicates=result.duplicates,
            lost=result.lost,
            pauses=result.pauses,
            needs_review=result.statuses.get("needs_review", 0),
            **kinds,
        )
        if result.problems or result.duplicates:
            failures.append((result.seed, result.problems))

    hogs = contextlib.nullcontext() if args.no_hogs else cpu_hogs()
    try:
        with hogs:
            for index in range(args.seeds):
                result = harness.run_seed(args.first + index, stalls=args.stalls)
                note(result, seeds=1, crashes=result.crashes)
                if (index + 1) % 50 == 0:
                    print(
                        f"{index + 1} seeds, {time.monotonic() - started:.0f} s: {dict(totals)}",
                        flush=True,
                    )
            first = args.first + 100_000
            for start in range(0, args.process_seeds, 6):
                count = min(6, args.process_seeds - start)
                for result in harness.run_seeds_in_processes(
                    [first + start + i for i in range(count)]
                ):
                    note(result, process_seeds=1, kills=result.crashes)
                print(
                    f"{start + count} process seeds, {time.monotonic() - started:.0f} s: "
                    f"{dict(totals)}",
                    flush=True,
                )
    finally:
        harness.close()
    print(
        f"done in {time.monotonic() - started:.0f} s: {dict(totals)}; "
        f"violations: {len(failures)} {failures[:5]}",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
