"""Sending benchmark (issue #4): a campaign to N recipients on SQLite through the real
`sendgrid` client to the emulator (in its own process) on loopback, planning included.

    python bench/send.py all [--sizes 10000,100000,1000000] [--batches 1000,100]
    python bench/send.py prepare --folder F --recipients N   (database + audience)
    python bench/send.py engine --folder F --recipients N --batch B   (one measured run)

`all` reports, in one run: recipients/s handed off per size and batch size, peak RSS of the
sending process, the raw limit (the same kind of payloads pre-built and POSTed to the same
emulator with no database work), and a naive loop (one request per recipient).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
KEY = "SG.local-dev-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatorProcess:
    def __init__(self, folder: Path):
        self.port = _free_port()
        self.log = folder / f"emulator-{self.port}.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletter",
                "emulator",
                "--port",
                str(self.port),
                "--log",
                str(self.log),
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the emulator did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _settings(folder: Path, base_url: str, batch: int):
    from newsletter.config import load_settings

    return load_settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        audiences_dir=REPO / "audiences",
        templates_dir=REPO / "templates",
        public_url="https://news.mindstream.example",
        sendgrid_api_key=KEY,
        sendgrid_base_url=base_url,
        batch_size=batch,
        secret_key="bench-secret-key-0123456789abcdefghijklmnop",
        sendgrid_timeout=60,
    )


def _audience(db, settings, count: int) -> None:
    from sqlalchemy import insert

    from newsletter.domain.subscribers import email_hash
    from newsletter.storage.tables import subscribers

    now = datetime.now(UTC)
    secret = settings.signing_keys["a"]
    chunk = 20_000
    for start in range(0, count, chunk):
        rows = [
            {
                "email": f"person{i:07d}@bench.example",
                "email_hash": email_hash(secret, f"person{i:07d}@bench.example"),
                "first_name": "Sam",
                "status": "active",
                "signed_up_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(start + chunk, count))
        ]
        with db.write() as conn:
            conn.execute(insert(subscribers), rows)


def prepare(folder: Path, recipients: int) -> None:
    """Create the database and the audience (in its own process: not part of the measure)."""
    from newsletter.storage.database import Database
    from newsletter.storage.schema import upgrade

    settings = _settings(folder, "http://127.0.0.1:1", 1000)
    db = Database.from_url(settings.database_url)
    upgrade(db)
    _audience(db, settings, recipients)
    db.close()


def engine_run(folder: Path, recipients: int, batch: int) -> dict:
    """One measured campaign, planning included; its own process, so its peak RSS is its own."""
    from newsletter.bootstrap import dispatcher, send_context
    from newsletter.services.campaign_schedule import start_now
    from newsletter.services.campaigns import create_campaign
    from newsletter.services.runner import drive
    from newsletter.storage.database import Database

    emulator = EmulatorProcess(folder)
    try:
        settings = _settings(folder, emulator.base_url, batch)
        db = Database.from_url(settings.database_url)
        campaign_id = create_campaign(
            db,
            settings,
            articles=[REPO / "articles" / "neuroplasticity-ketamine.txt"],
            segment="everyone",
        )
        start = time.perf_counter()
        start_now(db, settings, campaign_id, now=datetime.now(UTC))
        ctx = send_context(settings, db)
        pool = dispatcher(settings, ctx)
        try:
            status = drive(ctx, pool, campaign_id)  # as `newsletter campaign send` does
        finally:
            pool.close()
        elapsed = time.perf_counter() - start
        db.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rss_mb = usage.ru_maxrss / 1024
        return {
            "recipients": recipients,
            "batch": batch,
            "status": status,
            "seconds": round(elapsed, 2),
            "per_second": round(recipients / elapsed),
            "peak_rss_mb": round(rss_mb, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # the sending process's own
            "sys_s": round(usage.ru_stime, 1),
        }
    finally:
        emulator.stop()


def raw_limit(recipients: int, batch: int, threads: int = 4) -> dict:
    """The same kind of payloads, pre-built, POSTed with the sendgrid client: no database."""
    from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
    from newsletter.delivery.sendgrid import SendGridBackend, build_payload

    folder = Path(tempfile.mkdtemp(prefix="bench-raw-"))
    emulator = EmulatorProcess(folder)
    try:
        html = "<p>Hi -nl_fn_html-</p>" * 200
        payloads = []
        for p in range(8):
            recips = tuple(
                OutgoingRecipient(
                    email=f"raw{p}-{i}@bench.example",
                    substitutions={
                        "-nl_fn_html-": "Sam",
                        "-nl_fn_text-": "Sam",
                        "-nl_rt-": "r" * 39,
                        "-nl_ut-": "u" * 39,
                    },
                    list_unsubscribe="https://news.mindstream.example/u/" + "u" * 39,
                    send_id=f"{p:06d}{i:016d}",
                )
                for i in range(batch)
            )
            payloads.append(
                build_payload(
                    OutgoingBatch(
                        "Subject",
                        html,
                        "text -nl_fn_text-",
                        "Clinic",
                        "news@mindstream.example",
                        "hello@mindstream.example",
                        "Clinic <news.example>",
                        recips,
                    )
                )
            )
        requests = recipients // batch
        counter = iter(range(requests))
        lock = threading.Lock()

        def worker() -> None:
            backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=60)
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                result = backend.post(payloads[n % len(payloads)])
                assert result.status == 202, result

        start = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - start
        return {
            "recipients": requests * batch,
            "batch": batch,
            "seconds": round(elapsed, 2),
            "per_second": round(requests * batch / elapsed),
        }
    finally:
        emulator.stop()


def naive_loop(recipients: int = 1000) -> dict:
    """One request per recipient with the sendgrid client's Mail helper."""
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail

    folder = Path(tempfile.mkdtemp(prefix="bench-naive-"))
    emulator = EmulatorProcess(folder)
    try:
        client = SendGridAPIClient(api_key=KEY, host=emulator.base_url)
        client.client.timeout = 30
        html = "<p>Hi Sam</p>" * 200
        start = time.perf_counter()
        for i in range(recipients):
            mail = Mail(
                from_email="news@mindstream.example",
                to_emails=f"n{i}@bench.example",
                subject="Subject",
                plain_text_content="text",
                html_content=html,
            )
            assert client.send(mail).status_code == 202
        elapsed = time.perf_counter() - start
        return {
            "recipients": recipients,
            "seconds": round(elapsed, 2),
            "per_second": round(recipients / elapsed),
        }
    finally:
        emulator.stop()


def _in_subprocess(recipients: int, batch: int) -> dict:
    folder = tempfile.mkdtemp(prefix="bench-send-")
    common = ["--folder", folder, "--recipients", str(recipients)]
    subprocess.run([sys.executable, __file__, "prepare", *common], check=True)
    out = subprocess.run(
        [sys.executable, __file__, "engine", *common, "--batch", str(batch)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "engine"):
        one = sub.add_parser(name)
        one.add_argument("--folder", type=Path, required=True)
        one.add_argument("--recipients", type=int, required=True)
        one.add_argument("--batch", type=int, default=1000)
    every = sub.add_parser("all")
    every.add_argument("--sizes", default="10000,100000,1000000")
    every.add_argument("--batches", default="1000,100")
    every.add_argument("--raw-recipients", type=int, default=200_000)
    every.add_argument("--naive", type=int, default=1000)
    args = parser.parse_args()
    if args.cmd == "prepare":
        prepare(args.folder, args.recipients)
        return
    if args.cmd == "engine":
        print(json.dumps(engine_run(args.folder, args.recipients, args.batch)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    results = {"engine": [], "raw": [], "naive": None}
    for batch in batches:
        results["raw"].append(raw_limit(args.raw_recipients, batch))
        print("raw", results["raw"][-1], flush=True)
    for batch in batches:
        for size in sizes if batch == batches[0] else sizes[-1:]:
            results["engine"].append(_in_subprocess(size, batch))
            print("engine", results["engine"][-1], flush=True)
    results["naive"] = naive_loop(args.naive)
    print("naive", results["naive"], flush=True)
    raw = {r["batch"]: r["per_second"] for r in results["raw"]}
    print("\n| Run | Recipients | Batch | Seconds | Recipients/s | vs raw limit | Peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in results["engine"]:
        print(
            f"| engine | {r['recipients']:,} | {r['batch']} | {r['seconds']} | "
            f"{r['per_second']:,} | {r['per_second'] / raw[r['batch']]:.0%} | "
            f"{r['peak_rss_mb']} MB |"
        )
    for r in results["raw"]:
        print(
            f"| raw limit | {r['recipients']:,} | {r['batch']} | {r['seconds']} | "
            f"{r['per_second']:,} | 100% | – |"
        )
    n = results["naive"]
    print(
        f"| naive loop | {n['recipients']:,} | 1 | {n['seconds']} | {n['per_second']:,} | – | – |"
    )
    best = max(r["per_second"] for r in results["engine"])
    print(f"\nengine / naive loop: {best / n['per_second']:.0f}×")


if __name__ == "__main__":
    main()
