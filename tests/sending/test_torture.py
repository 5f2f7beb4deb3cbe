"""The crash and stall torture gate (docs/sending.md, "Proving it"): random seeds, crashes
at named points, 3 concurrent executors, 10 % 429, 5 % 5xx, 5 % timeouts after accept; and
real executor processes SIGKILLed and SIGSTOPped (at every send_batch failpoint and at
random) for longer than their lease, with a CPU hog on every core, at the production ratios
of lease / request deadline / webhook grace scaled down (tests/sending/harness.py).

With the webhook healthy: 0 duplicates, 0 losses, 0 needs_review. Without a webhook:
uncertain batches become needs_review and nothing is resent. `bench/torture.py` runs the
larger version.
"""

from __future__ import annotations

import os

import pytest

from tests.sending.harness import Torture
from tests.sending.stalls import cpu_hogs

# Minutes each on a loaded 2-core machine: their own limit instead of the suite's 120 s.
pytestmark = pytest.mark.timeout(1200)

# Seed counts fit ~6 minutes of CI on a busy 2-core machine; bench/torture.py runs 1,000+.
SEEDS = int(os.environ.get("NEWSLETTER_TORTURE_SEEDS", "60"))
STALLS = 0.02  # per send_batch failpoint: a sender thread stalls for 1.2–2.5 leases
PROCESS_SEEDS = int(os.environ.get("NEWSLETTER_TORTURE_PROCESS_SEEDS", "20"))
PROCESS_SEEDS_WITHOUT_WEBHOOK = int(os.environ.get("NEWSLETTER_TORTURE_PROCESS_SEEDS_HOLD", "4"))


@pytest.fixture(scope="module")
def torture(tmp_path_factory):
    harness = Torture(tmp_path_factory.mktemp("torture"))
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def torture_without_webhook(tmp_path_factory):
    harness = Torture(tmp_path_factory.mktemp("torture-hold"), webhook=False)
    yield harness
    harness.close()


def _summary(results):
    return {
        "seeds": len(results),
        "recipients": sum(r.recipients for r in results),
        "crashes": sum(r.crashes for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "lost": sum(r.lost for r in results),
        "needs_review": sum(r.statuses.get("needs_review", 0) for r in results),
        "pauses": sum(r.pauses for r in results),
    }


def test_threads_with_crashes_and_faults_lose_and_duplicate_nothing(torture):
    results = [torture.run_seed(seed, stalls=STALLS) for seed in range(SEEDS)]
    failures = [(r.seed, r.problems) for r in results if r.problems or r.duplicates]
    summary = _summary(results)
    print("torture (threads, webhook):", summary)
    assert not failures, failures[:5]
    assert summary["crashes"] > 0, "the failpoints never fired: the test proves nothing"
    assert summary["duplicates"] == 0 and summary["lost"] == 0
    assert summary["pauses"] > 0, "no sender stalled: the test proves less"


def test_without_a_webhook_uncertain_batches_wait_for_review(torture_without_webhook):
    results = [torture_without_webhook.run_seed(1000 + seed) for seed in range(20)]
    summary = _summary(results)
    print("torture (threads, no webhook):", summary)
    assert summary["duplicates"] == 0
    assert summary["needs_review"] > 0, "no timeout fired: the test proves nothing"
    assert all(not r.problems for r in results), [r.problems for r in results if r.problems]


def test_real_processes_killed_and_paused_under_cpu_contention(torture):
    with cpu_hogs():
        results = torture.run_seeds_in_processes([5000 + seed for seed in range(PROCESS_SEEDS)])
    summary = _summary(results)
    print("torture (processes, SIGKILL + SIGSTOP, CPU hogs):", summary)
    failures = [(r.seed, r.problems) for r in results if r.problems or r.duplicates]
    assert not failures, failures[:5]
    assert summary["duplicates"] == 0 and summary["lost"] == 0
    assert summary["crashes"] > 0, "no executor was killed: the test proves nothing"
    assert summary["pauses"] > len(results), "too few pauses: the test proves little"


def test_paused_processes_without_a_webhook_hold_uncertain_batches(torture_without_webhook):
    with cpu_hogs():
        results = torture_without_webhook.run_seeds_in_processes(
            [7000 + seed for seed in range(PROCESS_SEEDS_WITHOUT_WEBHOOK)]
        )
    summary = _summary(results)
    print("torture (processes, no webhook):", summary)
    failures = [(r.seed, r.problems) for r in results if r.problems or r.duplicates]
    assert not failures, failures[:5]  # never resent: no duplicate; held, not lost
    assert summary["duplicates"] == 0 and summary["lost"] == 0
    assert summary["pauses"] > 0
