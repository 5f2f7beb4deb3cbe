"""The large crash-torture run: `python bench/torture.py --seeds 2000 [--process-seeds 50]`.

Same harness as the CI gate (tests/sending/test_torture.py): each seed is a campaign to 40
people with crashes at named points, 3 concurrent executors, 10 % 429, 5 % 5xx and 5 %
timeouts after accept, checked against the emulator's log (no duplicate, no loss, ledger =
log, nothing left open). Prints a summary line and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--process-seeds", type=int, default=0)
    parser.add_argument("--first", type=int, default=10_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="torture-"))
    os.chdir(folder)
    harness = Torture(folder)
    totals: Counter = Counter()
    failures = []
    started = time.monotonic()
    try:
        for index in range(args.seeds):
            result = harness.run_seed(args.first + index)
            totals.update(
                seeds=1,
                recipients=result.recipients,
                crashes=result.crashes,
                duplicates=result.duplicates,
                lost=result.lost,
                needs_review=result.statuses.get("needs_review", 0),
            )
            if result.problems or result.duplicates:
                failures.append((result.seed, result.problems))
            if (index + 1) % 100 == 0:
                print(
                    f"{index + 1} seeds, {time.monotonic() - started:.0f} s: {dict(totals)}",
                    flush=True,
                )
        for index in range(args.process_seeds):
            result = harness.run_seed_in_processes(args.first + 100_000 + index)
            totals.update(
                process_seeds=1,
                kills=result.crashes,
                duplicates=result.duplicates,
                lost=result.lost,
            )
            if result.problems or result.duplicates:
                failures.append((result.seed, result.problems))
    finally:
        harness.close()
    print(
        f"done in {time.monotonic() - started:.0f} s: {dict(totals)}; "
        f"violations: {len(failures)} {failures[:5]}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
