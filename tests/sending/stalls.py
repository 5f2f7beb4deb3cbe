"""Stalls for the torture harness: pauses longer than a lease (SIGSTOP…SIGCONT), a wait that
fails loudly on a process that never ends, and a CPU hog on every core."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def _state(pid: int) -> str:
    """The kernel's run state of a process: R, S, D, T (stopped), Z…; "" once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


class Pauses:
    """Resumes stopped executors after a pause longer than their lease.

    A thread polls the watched processes; the first time it sees one stopped (state T, by
    a failpoint's own SIGSTOP or by `stop()`), it schedules the SIGCONT. So SIGCONT is only
    ever sent to a process seen stopped, and never before its SIGSTOP landed (the race where
    an early SIGCONT is lost and the process stays stopped for ever). `close()` resumes
    anything still stopped."""

    def __init__(self, rng: random.Random, *, low: float, high: float) -> None:
        self.rng, self.low, self.high = rng, low, high
        self.procs: list[subprocess.Popen] = []
        self.resume_at: dict[int, float] = {}
        self.count = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def watch(self, procs: list[subprocess.Popen]) -> None:
        with self._lock:
            self.procs = [p for p in self.procs if p.poll() is None] + list(procs)

    def stop(self, proc: subprocess.Popen) -> None:
        """Stop a running process from outside; the thread resumes it."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGSTOP)

    def stopped(self) -> list[subprocess.Popen]:
        with self._lock:
            return [p for p in self.procs if p.poll() is None and _state(p.pid) == "T"]

    def _run(self) -> None:
        while not self._done.wait(0.01):
            now = time.monotonic()
            for proc in self.stopped():
                at = self.resume_at.setdefault(
                    proc.pid, now + self.rng.uniform(self.low, self.high)
                )
                if now >= at:
                    self._resume(proc)

    def _resume(self, proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
        self.resume_at.pop(proc.pid, None)
        self.count += 1

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        for proc in self.stopped():
            self._resume(proc)


def wait_all(procs: list[subprocess.Popen], *, deadline_s: float) -> list[str]:
    """Wait for every executor; one that never ends is a hang: kill it and say so."""
    problems = []
    deadline = time.monotonic() + deadline_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            state = _state(proc.pid)
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=30)
            problems.append(f"executor {proc.pid} never ended (state {state!r}): killed")
    return problems


@contextlib.contextmanager
def cpu_hogs(count: int | None = None) -> Iterator[list[subprocess.Popen]]:
    """A busy loop on every core (nice 0, like any other job on a shared CI machine)."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count or os.cpu_count() or 2)
    ]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=30)
