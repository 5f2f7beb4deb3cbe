"""The torture harness: one database, one emulator whose signed webhook reaches the product's
real web app over HTTP, and campaigns driven through crashes, stalls and provider faults.

Used by tests/sending/test_torture.py (the CI gate) and bench/torture.py (`--seeds 2000`).
The process torture runs real `newsletter campaign send` executors with the production
ratios of lease, request deadline and webhook grace (120 s / 30 s / 900 s, safety margin
10 s) scaled down uniformly by `PROCESS_SCALE`; they are SIGKILLed, and SIGSTOPped for longer
than their lease both at failpoints (they stop themselves) and at random moments; the
`Pauses` thread sends every SIGCONT, only to a process it has seen stopped.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from newsletter import failpoints
from newsletter.config import Settings, load_settings
from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.emulator import EmulatorConfig, WebhookConfig, start_emulator
from newsletter.failpoints import SimulatedCrash
from newsletter.services.runner import drive
from newsletter.services.tracking import process_inbox
from newsletter.storage.database import Database
from newsletter.storage.schema import upgrade
from newsletter.web.app import create_app
from tests.seed import REPO
from tests.sending.stalls import Pauses, wait_all
from tests.sending.support import (
    KEY,
    accepted_in_log,
    add_audience,
    context,
    ledger,
    new_campaign,
    statuses_by_email,
)

CRASH_POINTS = (
    "after_claim",
    "before_request",
    "after_request_check",
    "after_api_before_commit",
    "after_commit",
    "mid_planning",
    "after_campaign_cas",
)
SIGNING_SCALAR = 0x5EED
SEND_POINTS = (
    "after_claim",
    "before_request",
    "after_request_check",
    "after_api_before_commit",
    "after_commit",
)
# Production: lease 120 s, request deadline 30 s, webhook grace 900 s, safety margin 10 s.
PRODUCTION = {
    "lease_seconds": 120.0,
    "sendgrid_timeout": 30.0,
    "webhook_grace_s": 900.0,
    "send_safety_margin_s": 10.0,
}
PROCESS_SCALE = float(os.environ.get("NEWSLETTER_TORTURE_SCALE", str(1 / 200)))
# Executors stop themselves at every send_batch failpoint (and crash at some).
PROCESS_FAILPOINTS = (
    "after_claim:p=0.04:stop=0.06",
    "before_request:p=0.02:stop=0.06",
    "after_request_check:stop=0.06",
    "after_api_before_commit:p=0.04:stop=0.06",
    "after_commit:stop=0.04",
)
EXECUTOR_DEADLINE_S = 180  # an executor still running after this is a hang: fail loudly


class WebServer:
    """The product's web app on a real loopback port, in a thread."""

    def __init__(self, settings: Settings, db: Database):
        config = uvicorn.Config(
            create_app(settings, db), host="127.0.0.1", port=0, log_level="error", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class SeedResult:
    seed: int
    recipients: int
    statuses: Counter
    duplicates: int
    lost: int
    crashes: int
    campaign_status: str
    problems: list[str] = field(default_factory=list)
    pauses: int = 0  # SIGSTOP…SIGCONT pauses longer than the lease (process torture)


class Torture:
    """Set up once; `run_seed(n)` runs one randomised campaign and checks I1–I4."""

    def __init__(self, folder: Path, *, webhook: bool = True):
        self.folder = folder
        self.webhook = webhook
        self.db_path = folder / "torture.db"
        self.db = Database.from_url(f"sqlite:///{self.db_path}")
        upgrade(self.db)
        self.emulator = start_emulator(
            EmulatorConfig(
                log_path=folder / "emulator.jsonl",
                fsync=False,
                signing_scalar=SIGNING_SCALAR,
                webhook=WebhookConfig(lag_s=0.02),
            )
        )
        audiences = folder / "audiences"
        shutil.copytree(REPO / "audiences", audiences, dirs_exist_ok=True)
        overrides = {
            "sendgrid_base_url": self.emulator.base_url,
            "sendgrid_api_key": KEY,
            "database_url": f"sqlite:///{self.db_path}",
            "audiences_dir": audiences,
            "public_url": "https://news.mindstream.example",
            "batch_size": 8,
            "lease_seconds": 0.6,
            "webhook_grace_s": 0.25,
            "retry_base_s": 0.02,
            "retry_cap_s": 0.1,
            "sendgrid_timeout": 0.15,
            "send_safety_margin_s": 0.05,
            "templates_dir": REPO / "templates",
            "secret_key": "torture-secret-key-0123456789abcdefghijklmnop",
        }
        if webhook:
            overrides["sendgrid_webhook_public_key"] = self.emulator.public_key
        self.settings: Settings = load_settings(**overrides)
        # The process torture: production ratios, scaled down uniformly.
        scaled = {**overrides, **{k: v * PROCESS_SCALE for k, v in PRODUCTION.items()}}
        self.process_settings: Settings = load_settings(**scaled)
        self.env = {f"NEWSLETTER_{k.upper()}": str(v) for k, v in scaled.items()}
        self.web = WebServer(self.settings, self.db) if webhook else None
        if self.web:
            self.emulator.set_webhook_url(self.web.url + "/webhooks/sendgrid")

    def close(self) -> None:
        failpoints.configure("")
        if self.web:
            self.web.stop()
        self.emulator.stop()
        self.db.close()

    # -- one seed, executors as threads in this process ------------------------------------
    def run_seed(self, seed: int, *, recipients: int = 40, stalls: float = 0.0) -> SeedResult:
        """`stalls`: the probability that a sender thread stalls (sleeps 1.2–2.5 leases) at
        each send_batch failpoint, as a starved or paused sender would."""
        rng = random.Random(seed)
        domain = f"seed{seed}.example"
        audience = add_audience(self.db, self.settings, domain, recipients, tag=f"seed{seed}")
        self.emulator.set_faults(self._faults(seed))
        campaign_id = new_campaign(self.db, self.settings, segment=self._segment(f"seed{seed}"))
        injected = [0]

        def crash() -> None:
            injected[0] += 1
            failpoints.raise_crash()

        lease = self.settings.lease_seconds
        stall_rng = random.Random(seed)
        stalled = [0]

        def stall() -> None:
            stalled[0] += 1
            time.sleep(stall_rng.uniform(1.2, 2.5) * lease)

        failpoints.configure(
            ",".join(
                f"{p}:p={rng.uniform(0.02, 0.08):.3f}"
                + (f":stop={stalls}" if stalls and p in SEND_POINTS else "")
                for p in CRASH_POINTS
            ),
            seed=seed,
            crash=crash,
            pause=stall,
        )
        restarts = 0
        ctx = context(self.db, self.settings, self.emulator.base_url, timeout=0.25)
        ctx.rng = random.Random(seed)
        status = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pool = ThreadPoolDispatcher(ctx, threads=3, worker_id=f"seed{seed}-{restarts}")
            try:
                status = drive(
                    ctx,
                    pool,
                    campaign_id,
                    poll_s=0.02,
                    process_events=self._events,
                    stop=lambda: False,
                )
                break
            except SimulatedCrash:  # the engine itself "died": restart it (recovery first)
                restarts += 1
            finally:
                pool.close()
        failpoints.configure("")
        result = self._check(seed, campaign_id, domain, audience, injected[0], status)
        result.pauses = stalled[0]
        return result

    # -- one seed, executors as real subprocesses SIGKILLed at random ---------------------
    def run_seeds_in_processes(self, seeds: list[int], *, parallel: int = 3) -> list[SeedResult]:
        """Several process seeds at once, each its own campaign: their executors spend most
        of their time starting up, paused or waiting out a grace period."""
        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(self.run_seed_in_processes, seeds))

    def run_seed_in_processes(
        self, seed: int, *, recipients: int = 48, executors: int = 3
    ) -> SeedResult:
        rng = random.Random(seed)
        domain = f"proc{seed}.example"
        audience = add_audience(self.db, self.settings, domain, recipients, tag=f"proc{seed}")
        self.emulator.set_faults(self._faults(seed))
        campaign_id = new_campaign(self.db, self.settings, segment=self._segment(f"proc{seed}"))
        env = {
            **os.environ,
            **self.env,
            "NEWSLETTER_FAILPOINTS": ",".join(PROCESS_FAILPOINTS),
            "NEWSLETTER_FAILPOINTS_SEED": str(seed),
        }
        lease = self.process_settings.lease_seconds
        pauses = Pauses(random.Random(seed), low=1.2 * lease, high=2.5 * lease)
        kills, problems = 0, []
        try:
            for _round in range(2):  # each round: 3 executors, one SIGKILLed, one SIGSTOPped
                procs = [
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "newsletter",
                            "campaign",
                            "send",
                            str(campaign_id),
                            "--yes",
                        ],
                        env=env,
                        cwd=self.folder,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(executors)
                ]
                pauses.watch(procs)
                events = sorted([(rng.uniform(0.3, 2.0), "stop"), (rng.uniform(1.0, 2.5), "kill")])
                victims = rng.sample(procs, 2)
                started = time.monotonic()
                for (at, what), victim in zip(events, victims, strict=True):
                    time.sleep(max(0.0, at - (time.monotonic() - started)))
                    if victim.poll() is not None:
                        continue
                    if what == "kill":
                        victim.send_signal(signal.SIGKILL)
                        kills += 1
                    else:
                        pauses.stop(victim)
                problems += wait_all(procs, deadline_s=EXECUTOR_DEADLINE_S)
                self._events()
                state = ledger(self.db, campaign_id)
                if state.open_batches == 0 and state.campaign_status != "sending":
                    break
        finally:
            pauses.close()
        # Drain anything left (a final, crash-free executor: a restart after the last kill).
        ctx = context(self.db, self.process_settings, self.emulator.base_url, timeout=1.0)
        pool = ThreadPoolDispatcher(ctx, threads=3, worker_id=f"proc{seed}-final")
        try:
            status = drive(ctx, pool, campaign_id, poll_s=0.02, process_events=self._events)
        finally:
            pool.close()
        result = self._check(seed, campaign_id, domain, audience, kills, status)
        result.problems += problems
        result.pauses = pauses.count
        return result

    # -- helpers ------------------------------------------------------------------------------
    def _faults(self, seed: int) -> dict:
        return {
            "seed": seed,
            "p429": 0.10,
            "p5xx": 0.05,
            "p_timeout_after_accept": 0.05,
            "timeout_sleep_s": 0.35,
            "retry_after": 0.05,
            "reset_in": 0.05,
        }

    def _segment(self, tag: str) -> str:
        """A segment file (as staff write them) matching only this seed's tagged audience."""
        path = Path(self.settings.audiences_dir) / f"{tag}.yaml"
        path.write_text(f"description: torture audience {tag}\nrule:\n  tag: {tag}\n")
        return tag

    def _events(self):  # type: ignore[no-untyped-def]
        if not self.webhook:
            return None
        return process_inbox(self.db, key=self.settings.signing_keys["a"], now=datetime.now(UTC))

    def _check(self, seed, campaign_id, domain, audience, crashes, status) -> SeedResult:
        """I1–I4 per address, against the emulator's log (the independent ground truth)."""
        state = ledger(self.db, campaign_id)
        by_status = statuses_by_email(self.db, campaign_id)
        sent = accepted_in_log(self.emulator.log_path, domain)
        duplicates = sum(n - 1 for n in sent.values() if n > 1)
        accepted = by_status.get("accepted", set())
        review = by_status.get("needs_review", set())
        settled = set().union(
            *(by_status.get(k, set()) for k in ("failed", "skipped", "cancelled", "needs_review"))
        )
        problems = []
        if state.open_batches:
            problems.append(f"I4: {state.open_batches} open batches")
        if by_status.get("pending"):
            problems.append(f"I2: {len(by_status['pending'])} pending")
        if sum(state.statuses.values()) != len(audience):
            problems.append("I2: ledger size differs from the audience")
        lost = {e for e in audience if e not in sent and e not in settled}
        if lost:
            problems.append(f"I2: {len(lost)} lost")
        if not accepted <= set(sent):
            problems.append(f"I3: {len(accepted - set(sent))} accepted in the ledger, not sent")
        # Sent but not accepted in the ledger is allowed only while a person reviews them.
        unexplained = set(sent) - accepted - review
        if unexplained:
            problems.append(f"I3: {len(unexplained)} sent but not in the ledger as accepted")
        if self.webhook and review:
            problems.append(f"needs_review {len(review)} with a healthy webhook")
        return SeedResult(
            seed, len(audience), state.statuses, duplicates, len(lost), crashes, status, problems
        )
