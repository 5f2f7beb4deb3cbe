"""Admin page latency under load: the campaign list and a campaign page, signed in, with
1,000,000 subscribers and 200 campaigns on SQLite, 20 concurrent connections (hey).

    python bench/admin_pages.py [--subscribers 1000000] [--requests 2000] [--rounds 3]

The database (bench/data/admin-bench.db, kept between runs) holds 1M subscribers, one
campaign sending to all of them (1M deliveries, 10,000 batches, half sent), 150 sent
campaigns (100 batches each), 9 more sending (1,000 batches each) and 40 drafts with their
approval rows. The real `newsletter serve` (one uvicorn worker) serves it; a marketer's
session cookie is made by the sign-in service. Each round runs `hey -n N -c 20` per page and
reads its p50/p95, and the server process's CPU time per request (from /proc: what a page
costs whatever the machine's load); the medians of the rounds are printed with the load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.accounts import login  # noqa: E402
from newsletter.accounts.service import create_user  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.errors import ValidationError  # noqa: E402
from newsletter.services import article_library, campaign_drafts  # noqa: E402
from newsletter.storage.database import Database  # noqa: E402
from newsletter.storage.schema import upgrade  # noqa: E402

KEY = "bench-secret-key-0123456789abcdefghijklmnopq"
DATA = REPO / "bench" / "data"
PASSWORD = "benchmark password 1"
PAGES = {
    "campaign list": "/admin/campaigns",
    "campaign page (1M recipients)": "/admin/campaigns/1",
    "campaign page (draft)": "/admin/campaigns/200",
}


def build(path: Path, subscribers: int) -> None:
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = Database.from_url(f"sqlite:///{tmp}")
    upgrade(db)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with db.write() as conn:
        conn.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
                "INSERT INTO subscribers (email, email_hash, first_name, status, signed_up_at, "
                "created_at, updated_at) SELECT 'person' || i || '@example.com', "
                "printf('%064d', i), 'Ada', 'active', :now, :now, :now FROM n"
            ),
            {"rows": subscribers, "now": now.replace(tzinfo=None)},
        )
    print(f"  {subscribers:,} subscribers in {time.perf_counter() - started:.1f} s")
    settings = load_settings(
        database_url=f"sqlite:///{tmp}", audiences_dir=REPO / "audiences", secret_key=KEY
    )
    seed = REPO / "tests" / "data" / "seed" / "neuroplasticity-ketamine.md"
    article = article_library.add_file(db, seed, site_url=None, actor="bench", now=now)
    first = campaign_drafts.create_from_library(
        db, settings, [article], segment="everyone", now=now
    )
    with db.write() as conn:
        columns = (
            "key, status, template, segment, subject, preheader, sender_name, "
            "sender_email, reply_to, articles_json, html, text, links_json, batch_size, "
            "unknown_policy, late_send_window_s, to_send, created_at"
        )
        for number in range(2, 201):
            status = "sent" if number <= 151 else "sending" if number <= 160 else "draft"
            conn.execute(
                text(
                    f"INSERT INTO campaigns ({columns}) SELECT {columns.replace('status', ':s')} "
                    "FROM campaigns WHERE id = :first"
                ),
                {"s": status, "first": first},
            )
        conn.execute(
            text("UPDATE campaigns SET status = 'sending', to_send = :n WHERE id = 1"),
            {"n": subscribers},
        )
        conn.execute(text("UPDATE campaigns SET to_send = 10000 WHERE status = 'sent'"))
        conn.execute(
            text(
                "INSERT INTO campaign_workflow (campaign_id, approval) SELECT id, 'submitted' "
                "FROM campaigns WHERE id > 1"
            )
        )
        batches = (
            [(1, 10_000)] + [(i, 100) for i in range(2, 152)] + [(i, 1000) for i in range(152, 161)]
        )
        for campaign_id, count in batches:
            conn.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < :c - 1) INSERT INTO send_batches (campaign_id, seq, status, "
                    "attempts) SELECT :id, i, "
                    "CASE WHEN :sent OR i < :c / 2 THEN 'sent' ELSE 'pending' END, 0 FROM n"
                ),
                {"c": count, "id": campaign_id, "sent": campaign_id in range(2, 152)},
            )
        conn.execute(
            text(
                "INSERT INTO deliveries (campaign_id, subscriber_id, batch_seq, status) "
                "SELECT 1, id, (id - 1) / 100, CASE WHEN id <= :half THEN 'accepted' ELSE 'pending'"
                " END FROM subscribers"
            ),
            {"half": subscribers // 2},
        )
        conn.execute(text("ANALYZE"))
    db.close()
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    print(f"  built {path} in {time.perf_counter() - started:.0f} s")


def serve(url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": KEY,
        "NEWSLETTER_AUDIENCES_DIR": str(REPO / "audiences"),
        "NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    script = Path(sys.executable).parent / "newsletter"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "newsletter"]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to state cost per request apart
    from the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hey(url: str, cookie: str, requests: int, pid: int | None = None) -> dict[str, float]:
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [
            "hey",
            "-n",
            str(requests),
            "-c",
            "20",
            "-H",
            f"Cookie: {cookie}",
            "-disable-redirects",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    if set(codes) != {"200"}:
        raise SystemExit(f"non-200 answers from {url}: {codes}")
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1))  # type: ignore[union-attr]
    p95 = float(re.search(r"95%+ in ([\d.]+) secs", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    cpu_ms = (cpu_seconds(pid) - before) * 1000 / requests if pid else 0.0
    return {"p50_ms": p50 * 1000, "p95_ms": p95 * 1000, "rps": rps, "server_cpu_ms": cpu_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is not installed (apt-get install hey)")
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"admin-bench-{args.subscribers}.db"
    build(path, args.subscribers)
    url = f"sqlite:///{path}"
    db = Database.from_url(url)
    with db.write() as conn:
        conn.execute(text("DELETE FROM user_sessions"))
        conn.execute(text("DELETE FROM login_throttle"))
    with contextlib.suppress(ValidationError):  # kept from an earlier run
        create_user(db, "bench@clinic.example", "marketer", PASSWORD, actor="bench")
    session_id, _ = login.sign_in(
        db, email="bench@clinic.example", password=PASSWORD, address=None, now=datetime.now(UTC)
    )
    db.close()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = serve(url, port)
    cookie = f"nl_admin={session_id}"
    results: dict[str, list[dict[str, float]]] = {name: [] for name in PAGES}
    try:
        load_before = os.getloadavg()
        for path_ in PAGES.values():  # warm up
            hey(f"http://127.0.0.1:{port}{path_}", cookie, 200)
        for _ in range(args.rounds):
            for name, path_ in PAGES.items():
                results[name].append(
                    hey(f"http://127.0.0.1:{port}{path_}", cookie, args.requests, server.pid)
                )
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = {
        name: {
            key: round(statistics.median(r[key] for r in rounds), 1)
            for key in ("p50_ms", "p95_ms", "rps", "server_cpu_ms")
        }
        for name, rounds in results.items()
    }
    print(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "campaigns": 200,
                "concurrency": 20,
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "load_before": load_before,
                "load_after": load_after,
                "pages": summary,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
