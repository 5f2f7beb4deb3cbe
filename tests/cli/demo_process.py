"""`newsletter demo` as a user runs it: a real process in a folder of its own, on free ports,
its banner read for the URL and the credentials, its children found in /proc, and helpers
to sign in over HTTP (CSRF tokens and the admin's second factor included)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp

from newsletter.samples import SEGMENTS

READY_LINE = "Press Ctrl-C to stop everything."
START_TIMEOUT_S = 240.0  # a busy 2-core CI machine; the demo itself says how long it took
STOP_TIMEOUT_S = 90.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def clean_env() -> dict[str, str]:
    """The environment without any NEWSLETTER_* setting of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["COLUMNS"] = "200"  # one banner line per line
    return env


@dataclass
class Banner:
    url: str
    emulator: str
    passwords: dict[str, str]
    admin_key: str
    campaign_id: int
    ready_s: float
    text: str


@dataclass
class DemoProcess:
    cwd: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, cwd: Path, *extra: str) -> DemoProcess:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletter",
                "demo",
                "--port",
                "0",
                "--emulator-port",
                "0",
                *extra,
            ],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        demo = cls(cwd, process)
        threading.Thread(target=demo._read, daemon=True).start()
        return demo

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY_LINE in line:
                self.ready.set()
        self.ready.set()  # ended: whoever waits looks at the output

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> Banner:
        assert self.ready.wait(START_TIMEOUT_S), f"no banner in {START_TIMEOUT_S} s:\n{self.output}"
        assert READY_LINE in self.output, f"the demo did not start:\n{self.output}"
        text = self.output
        passwords = dict(re.findall(r"^\s+(marketer|admin)\s+\S+\s+password: (\S+)$", text, re.M))
        return Banner(
            url=re.search(r"^\s+(http://127\.0\.0\.1:\d+)/admin$", text, re.M)[1],
            emulator=re.search(r"SendGrid emulator on (http://127\.0\.0\.1:\d+)", text)[1],
            passwords=passwords,
            admin_key=re.search(r"add key ([A-Z2-7]+)", text)[1],
            campaign_id=int(re.search(r"^Campaign (\d+) “", text, re.M)[1]),
            ready_s=float(re.search(r"ready in ([\d.]+) s", text)[1]),
            text=text,
        )

    def children(self) -> list[int]:
        """The pids of the demo's direct children (from /proc)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        finally:
            if self.process.poll() is None:
                self.kill()

    def kill(self) -> None:
        for pid in self.children():
            _kill(pid)
        self.process.kill()
        self.process.wait()

    def state(self) -> dict[str, Any]:
        return json.loads((self.cwd / "demo" / "demo.json").read_text())

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`newsletter ARGS` on the demo's database (its settings from the demo folder)."""
        env = clean_env()
        env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{self.cwd / 'demo' / 'newsletter.db'}"
        env["NEWSLETTER_SECRET_KEY"] = self.state()["secret_key"]
        env["NEWSLETTER_AUDIENCES_DIR"] = str(SEGMENTS)  # no audiences/ folder here
        return subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            cwd=self.cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Is `pid` a running process that is not a zombie?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, f"no CSRF field in the page:\n{html[:2000]}"
    return found[1]


def sign_in(url: str, email: str, password: str, totp_key: str | None = None) -> httpx.Client:
    """An HTTP client signed in to the admin (through the second factor for an admin)."""
    client = httpx.Client(base_url=url, trust_env=False, timeout=30.0, follow_redirects=True)
    page = client.get("/admin/login")
    answer = client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf(page.text)},
    )
    assert answer.status_code == 200, answer.text[:2000]
    if totp_key is not None:
        assert answer.url.path == "/admin/login/2fa", answer.url
        answer = client.post(
            "/admin/login/2fa",
            data={"code": pyotp.TOTP(totp_key).now(), "csrf_token": csrf(answer.text)},
        )
        assert answer.status_code == 200, answer.text[:2000]
    assert answer.url.path == "/admin/campaigns", answer.url
    return client


def post_form(client: httpx.Client, page_path: str, action: str, **fields: str) -> httpx.Response:
    """Submit a form of `page_path` to `action` with the page's CSRF token."""
    token = csrf(client.get(page_path).text)
    return client.post(action, data={"csrf_token": token, **fields})
