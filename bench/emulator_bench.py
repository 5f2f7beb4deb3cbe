"""Throughput of the SendGrid emulator with 1000-personalization requests.

Starts `python -m newsletter.emulator` in a subprocess (so client and server do not share a
GIL), posts pre-built payloads with one pooled `httpx.Client` per thread, and prints the
median recipients/s over several runs.

    .venv/bin/python bench/emulator_bench.py [--threads 3] [--requests 60] [--runs 5]
        [--personalizations 1000] [--no-fsync] [--in-process]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

KEY = "SG.bench-key"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def build_payload(batch: int, n: int) -> bytes:
    pers = []
    for i in range(n):
        token = secrets.token_urlsafe(16)
        pers.append(
            {
                "to": [{"email": f"reader{batch:04d}.{i:04d}@example.org"}],
                "headers": {
                    "List-Unsubscribe": f"<https://clinic.example/u/{token}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                "substitutions": {"-fn_text-": "Ana", "-fn_html-": "Ana", "-rt-": token[:12]},
                "custom_args": {"send_id": token},
            }
        )
    body = {
        "from": {"email": "news@clinic.example", "name": "Clinic News"},
        "reply_to": {"email": "hello@clinic.example"},
        "subject": "November news roundup",
        "content": [
            {"type": "text/plain", "value": "Hi -fn_text- https://clinic.example/r/L7/-rt-"},
            {
                "type": "text/html",
                "value": '<p>Hi -fn_html-</p><a href="https://clinic.example/r/L7/-rt-">Book</a>',
            },
        ],
        "personalizations": pers,
        "headers": {"List-Id": "Clinic news <news.clinic.example>"},
        "categories": ["newsletter"],
        "tracking_settings": {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
            "subscription_tracking": {"enable": False},
            "ganalytics": {"enable": False},
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def start_server(log: Path, fsync: bool, webhook_url: str | None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "newsletter.emulator", "--port", "0", "--api-key", KEY,
           "--log", str(log)] + ([] if fsync else ["--no-fsync"])  # fmt: skip
    if webhook_url:
        cmd += ["--webhook-url", webhook_url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    return proc, json.loads(line)["base_url"]


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc), to report cost independent of load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(base_url: str, payloads: list[bytes], threads: int) -> float:
    todo = list(payloads)
    lock = threading.Lock()
    recipients = [0]
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base_url, trust_env=False, timeout=60) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    payload = todo.pop()
                resp = client.post("/v3/mail/send", content=payload, headers=HEADERS)
                if resp.status_code != 202:
                    errors.append(f"{resp.status_code} {resp.text[:200]}")
                    return
                with lock:
                    recipients[0] += payload.count(b'"to":')

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"request failed: {errors[0]}")
    return recipients[0] / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--requests", type=int, default=60, help="requests per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--personalizations", type=int, default=1000)
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--in-process", action="store_true", help="run the emulator in this process")
    ap.add_argument("--webhook", action="store_true", help="also deliver events to a receiver")
    args = ap.parse_args()

    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    payloads = [build_payload(b, args.personalizations) for b in range(args.requests)]
    total = args.requests * args.personalizations * args.runs
    size = statistics.mean(len(p) for p in payloads)
    receiver = None
    if args.webhook:
        from newsletter.emulator.testing import WebhookReceiver

        receiver = WebhookReceiver()
    webhook_url = receiver.url if receiver else None
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.jsonl"
        if args.in_process:
            from newsletter.emulator import EmulatorConfig, start_emulator

            config = EmulatorConfig(api_keys={KEY: {"mail.send"}}, log_path=log,
                                    fsync=not args.no_fsync, webhook_url=webhook_url)  # fmt: skip
            handle = start_emulator(config)
            base_url, stop = handle.base_url, handle.stop
        else:
            proc, base_url = start_server(log, not args.no_fsync, webhook_url)

            def stop() -> None:
                proc.terminate()
                proc.wait(10)
                if proc.stdout:
                    proc.stdout.close()

        pid = os.getpid() if args.in_process else proc.pid
        cpu_before = cpu_seconds(pid)
        try:
            rates = [run_once(base_url, payloads, args.threads) for _ in range(args.runs)]
            if receiver:
                started, want = (
                    time.perf_counter(),
                    2 * args.requests * args.personalizations * args.runs,
                )
                while receiver.event_count() < want and time.perf_counter() - started < 120:
                    time.sleep(0.2)
                drain = time.perf_counter() - started
            server_cpu = cpu_seconds(pid) - cpu_before
        finally:
            stop()
            if receiver:
                receiver.close()
        log_mb = log.stat().st_size / 1e6
    print(f"payload: {args.personalizations} personalizations, {size / 1024:.0f} KiB; "
          f"threads={args.threads}, requests/run={args.requests}, runs={args.runs}")  # fmt: skip
    print("runs (recipients/s):", ", ".join(f"{r:,.0f}" for r in rates))
    print(f"median: {statistics.median(rates):,.0f} recipients/s")
    if not args.in_process:
        print(f"server CPU: {server_cpu / total * 1e6:.1f} µs/recipient "
              f"(≈ {total / server_cpu:,.0f} recipients per CPU-second)")  # fmt: skip
    if receiver:
        print(f"webhook: {receiver.event_count():,} events received, {len(receiver.posts)} posts; "
              f"drained {drain:.1f} s after the last request")  # fmt: skip
    print(f"log: {log_mb:.1f} MB for {total:,} recipients ({log_mb * 1e6 / total:.0f} B/recipient)")


if __name__ == "__main__":
    main()
