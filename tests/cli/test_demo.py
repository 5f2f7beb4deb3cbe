"""`newsletter demo` through its real entry point: it starts in an empty folder, the printed
accounts sign in, the marketer's draft goes through approval and out through the emulator
exactly once per subscriber, the emulator's signed events come back, and Ctrl-C leaves no
process behind. A second start in the same folder works; a taken port and a dying child
are reported by name."""

from __future__ import annotations

import csv
import json
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import httpx
import pytest

from newsletter.samples import SAMPLE_AUDIENCE
from tests.cli.demo_process import DemoProcess, alive, clean_env, post_form, sign_in

WAIT_S = 240.0


def sample_addresses() -> list[str]:
    with SAMPLE_AUDIENCE.open(encoding="utf-8") as handle:
        return [row["email"].strip().lower() for row in csv.DictReader(handle)]


def wait_for(condition, what: str, timeout: float = WAIT_S):  # type: ignore[no-untyped-def]
    """Poll `condition` until it returns something truthy (a condition, not a delay)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout:g} s"
        pause.wait(0.5)


def all_gone(pids: list[int]) -> None:
    """The demo's own children are reaped before it exits; a multiprocessing helper the
    subscriber import started (forkserver) ends when it reads the demo's end of its pipe."""
    assert [pid for pid in pids if " -m newsletter" in _cmdline(pid) and alive(pid)] == []
    wait_for(lambda: not [pid for pid in pids if alive(pid)], "every child gone", 30)


def campaign_status(demo: DemoProcess, campaign_id: int) -> dict:
    result = demo.cli("campaign", "status", str(campaign_id), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(900)
def test_demo_runs_the_whole_workflow_and_stops_cleanly(tmp_path):
    demo = DemoProcess.start(tmp_path)
    try:
        banner = demo.wait_ready()
        children = demo.children()
        # Besides the three: the demo's own template-render worker (made when it created the
        # draft) and the import's forkserver, both ending with it.
        started = sorted(_started(pid) for pid in children if " -m newsletter" in _cmdline(pid))
        started.remove("newsletter.rendering.worker")
        assert started == ["engine", "newsletter.demo.emulator_child", "serve"], demo.output
        state_file = tmp_path / "demo" / "demo.json"  # keys: readable by this user only
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        secrets = demo.state()  # never on a command line other users can read (ps)
        for pid in children:
            assert secrets["api_key"] not in _cmdline(pid)
            assert str(secrets["signing_scalar"]) not in _cmdline(pid)
        assert set(banner.passwords) == {"admin", "marketer"}
        cid = banner.campaign_id

        # The marketer signs in with the printed password and finds the draft.
        marketer = sign_in(banner.url, "marketer@demo.example", banner.passwords["marketer"])
        listing = marketer.get("/admin/campaigns").text
        assert f"/admin/campaigns/{cid}" in listing
        page = marketer.get(f"/admin/campaigns/{cid}").text
        assert "draft" in page and "everyone" in page
        # The sample audience is there: the segment counts every address of the CSV.
        addresses = sample_addresses()
        count = demo.cli("segments", "count", "everyone")
        assert count.returncode == 0, count.stderr
        assert str(len(addresses)) in count.stdout

        # Approval is on: the marketer cannot send or approve the draft; submits it.
        refused = post_form(marketer, f"/admin/campaigns/{cid}", f"/admin/campaigns/{cid}/send")
        assert refused.status_code in (400, 403), refused.status_code
        submitted = post_form(marketer, f"/admin/campaigns/{cid}", f"/admin/campaigns/{cid}/submit")
        assert submitted.status_code == 200 and "done=submit" in str(submitted.url)

        # The admin signs in (password, then the code of the printed key) and approves.
        admin = sign_in(
            banner.url, "admin@demo.example", banner.passwords["admin"], banner.admin_key
        )
        approved = post_form(admin, f"/admin/campaigns/{cid}", f"/admin/campaigns/{cid}/approve")
        assert approved.status_code == 200 and "done=approve" in str(approved.url)

        # The marketer sends it; the engine sends through the emulator.
        sent = post_form(marketer, f"/admin/campaigns/{cid}", f"/admin/campaigns/{cid}/send")
        assert sent.status_code == 200 and "done=sent" in str(sent.url), sent.text[:2000]
        final = wait_for(
            lambda: (
                (s := campaign_status(demo, cid))["status"] in ("sent", "sent_with_errors") and s
            ),
            "campaign sent",
        )
        assert final["status"] == "sent", final

        # Exactly one email per subscriber reached the emulator.
        emulator = httpx.Client(base_url=banner.emulator, trust_env=False, timeout=30)
        for address in addresses:
            got = emulator.get("/_emulator/messages", params={"to": address}).json()
            assert len(got) == 1, (address, len(got))

        # The emulator's signed events came back through the webhook and were counted.
        def delivered():  # type: ignore[no-untyped-def]
            result = demo.cli("campaign", "stats", str(cid), "--json")
            assert result.returncode == 0, result.stderr
            stats = json.loads(result.stdout)
            return stats["delivered"] == len(addresses) and stats

        stats = wait_for(delivered, "delivered events counted")
        assert stats["bounced"] == 0 and stats["dropped"] == 0
        posts = emulator.get("/_emulator/webhook/deliveries").json()
        assert posts and all(post["status"] == 200 for post in posts), posts[-1]

        code = demo.stop(signal.SIGINT)
        assert code == 0, demo.output
        assert "Traceback" not in demo.output
        all_gone(children)
    finally:
        if demo.process.poll() is None:
            demo.kill()

    # A second start in the same folder: same data, new passwords, a new draft.
    again = DemoProcess.start(tmp_path)
    try:
        second = again.wait_ready()
        assert "from an earlier run" in second.text
        assert f"Campaign {cid} is no longer a draft" in second.text
        assert second.campaign_id != cid
        assert second.passwords["marketer"] != banner.passwords["marketer"]
        marketer = sign_in(second.url, "marketer@demo.example", second.passwords["marketer"])
        assert f"/admin/campaigns/{second.campaign_id}" in marketer.get("/admin/campaigns").text
        code = demo_code(tmp_path)
        assert code.returncode == 0 and code.stdout[:6].isdigit(), code
        children = again.children()
        assert again.stop(signal.SIGTERM) == 0, again.output
        all_gone(children)
    finally:
        if again.process.poll() is None:
            again.kill()


def demo_code(cwd) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "demo", "--code"],
        cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_taken_port_is_named_with_the_option_to_change_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "newsletter", "demo", "--port", str(port)],
            cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"port {port}" in message and "--port" in message, message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()  # nothing half-made


@pytest.mark.timeout(600)
def test_a_child_that_dies_stops_the_demo_and_is_named(tmp_path):
    demo = DemoProcess.start(tmp_path)
    try:
        demo.wait_ready()
        children = demo.children()
        # A second demo on the same folder is refused, and changes nothing.
        before = demo.state()
        second = subprocess.run(
            [sys.executable, "-m", "newsletter", "demo", "--port", "0", "--emulator-port", "0"],
            cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert second.returncode == 2, second.stdout + second.stderr
        assert "already running from this folder" in " ".join(second.stderr.split())
        assert demo.state() == before and demo.process.poll() is None
        engine = [pid for pid in children if "engine" in _cmdline(pid)]
        assert len(engine) == 1, [_cmdline(pid) for pid in children]
        subprocess.run(["kill", "-KILL", str(engine[0])], check=True)
        assert demo.process.wait(120) == 1
        assert "the engine" in demo.output and "stopped unexpectedly" in demo.output
        assert "Traceback" not in demo.output
        all_gone(children)
    finally:
        if demo.process.poll() is None:
            demo.kill()


def test_code_without_a_demo_says_how_to_start_one(tmp_path):
    result = demo_code(tmp_path)
    assert result.returncode == 2
    assert "make demo" in result.stderr and "Traceback" not in result.stderr


def _started(pid: int) -> str:
    """`serve` for `python -m newsletter serve …`, the module name for another module."""
    words = _cmdline(pid).split()
    module = words[words.index("-m") + 1]
    return words[words.index("-m") + 2] if module == "newsletter" else module


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_the_old_demo_is_preview_without_arguments(tmp_path):
    """`newsletter preview` alone renders the sample article into out/ and serves it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    preview = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", "--port", str(port)],
        cwd=tmp_path, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        page = wait_for(
            lambda: _get(f"http://127.0.0.1:{port}/"), "the preview answers", timeout=120
        )
        assert "375" in page and "600" in page  # the two frames
        html = (tmp_path / "out" / "email.html").read_text(encoding="utf-8")
        assert "Neuroplasticity" in html
        assert (tmp_path / "out" / "email.txt").is_file()
    finally:
        preview.send_signal(signal.SIGINT)
        assert preview.wait(60) == 0


def _get(url: str) -> str | None:
    try:
        answer = httpx.get(url, timeout=5, trust_env=False)
    except httpx.HTTPError:
        return None
    return answer.text if answer.status_code == 200 else None
