"""The demo's child processes (web app, engine, SendGrid emulator): start, wait until they
answer, watch, and stop them all.

Each child runs `python -m newsletter …` in a session of its own, so the Ctrl-C typed at the
terminal reaches the demo alone, which then stops the children in order (the engine first,
so that in-flight batches still reach the emulator) with SIGTERM, and SIGKILL for one that
does not stop in time. On Linux each child also gets SIGTERM should the demo itself die
without cleaning up (PR_SET_PDEATHSIG), so no process outlives it. Their output goes to log
files in the demo folder; the last lines are shown when one stops unexpectedly.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import ConfigurationError

STOP_TIMEOUT_S = 20.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildDied(Exception):
    """A child process stopped on its own; the message names it and shows its log."""


@dataclass
class Child:
    """One `newsletter …` process of the demo."""

    name: str  # "the web app"
    args: list[str]  # after `python -m newsletter`
    log: Path
    ready: Callable[[], bool] = field(default=lambda: True)
    module: str = "newsletter"
    env: dict[str, str] = field(default_factory=dict)  # on top of the demo's
    process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> str:
        return " ".join(["newsletter" if self.module == "newsletter" else self.module, *self.args])

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.command}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env={**env, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def died(self) -> ChildDied:
        code = self.process.returncode if self.process is not None else None
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
        return ChildDied(
            f"{self.name} (`{self.command}`) stopped unexpectedly ({how}). "
            f"Its log, {self.log}, ends with:\n{self.tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; True if it stopped by itself."""
        process = self.process
        if process is None or process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
            return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def claim_port(port: int, what: str, option: str) -> int:
    """`port` if nothing listens on it on 127.0.0.1 (0: any free port), else a clear error."""
    if port == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            reason = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ConfigurationError(
                f"port {port} for {what} cannot be used on 127.0.0.1 ({reason}; another "
                "program, or a demo already running?)",
                where=option,
                fix=f"stop the other program, or choose another port: {option} N "
                f"({option} 0 picks a free one; with make: make demo DEMO_ARGS='{option} N')",
            ) from None
    return port


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    """A readiness check: `url` answers `status` (no proxy: everything is on loopback)."""
    import httpx

    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0, trust_env=False).status_code == status
        except httpx.HTTPError:
            return False

    return check


def logged(path: Path, text: str) -> Callable[[], bool]:
    """A readiness check: `text` appeared in the log since it was started (its last run)."""

    def check() -> bool:
        try:
            content = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return text in content[content.rfind("\n--- ") :]

    return check


class Supervisor:
    """Starts the children, waits for them, watches them until `stop` is set."""

    def __init__(self, children: list[Child], env: dict[str, str]) -> None:
        self.children = children
        self.env = env
        self.stop = threading.Event()

    def start(self, timeout: float) -> None:
        """Start every child and wait until each is ready (ChildDied / TimeoutError)."""
        for child in self.children:
            child.start(self.env)
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        while waiting:
            self.check()
            waiting = [child for child in waiting if not child.ready()]
            if not waiting or self.stop.is_set():
                return
            if time.monotonic() > deadline:
                names = ", ".join(child.name for child in waiting)
                raise TimeoutError(f"{names} did not answer within {timeout:g} s")
            self.stop.wait(0.2)

    def check(self) -> None:
        for child in self.children:
            if not child.running():
                raise child.died()

    def watch(self) -> None:
        """Until `stop` is set (a signal) or a child dies (ChildDied)."""
        while not self.stop.wait(0.5):
            self.check()

    def stop_all(self) -> list[str]:
        """Stop every child, last started first; the names of those that had to be killed."""
        killed = []
        for child in reversed(self.children):
            if not child.stop():
                killed.append(child.name)
        return killed


def on_signals(handler: Callable[[], None]) -> dict[int, object]:
    """SIGINT and SIGTERM call `handler` (once each, no traceback); returns the old ones."""
    previous: dict[int, object] = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda _signum, _frame: handler())
    return previous


def restore(previous: dict[int, object]) -> None:
    for number, old in previous.items():
        signal.signal(number, old)  # type: ignore[arg-type]
