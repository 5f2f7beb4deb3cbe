"""Click-redirect benchmark (issue #11): `newsletter serve`'s app on SQLite, loaded by Debian's
`hey` (a Go load tool with a per-worker rate limit, `-q`).

    python bench/clicks.py [--seconds 10] [--rate 1000] [--connections 50] [--rounds 3]

The server runs in its own process exactly as `newsletter serve` runs it (`web.app.serve_app`:
uvicorn, one worker) with one extra route, `/bare/{link_key}/{token}`, that answers the same
302 without touching the database or the recorder: the ceiling of this app on this machine.

hey can hit only one URL, so the load is `--connections` hey processes of one connection
each, every one clicking its own delivery's link (distinct tokens). Measured, per round:

1. fixed rate: `--rate` requests/s in total for `--seconds` (each process at rate/connections);
   every response time from `hey -o csv`, merged: p50/p95/p99, non-302 count; then the
   recorder is flushed and the click rows counted against the 302s (every click recorded?);
2. the same fixed rate with the delivery cache off: every request reads its delivery from
   SQLite (the first minutes after a send, when every click is a new delivery);
3. highest rate: no rate limit, closed loop, on `/r/` and on `/bare/` one after the other;
   the ratio is click/bare in the same round.

Medians over rounds are printed with the load average before each round.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path, **extra):  # type: ignore[no-untyped-def]
    from newsletter.config import load_settings

    return load_settings(
        database_url=f"sqlite:///{folder / 'clicks.db'}",
        secret_key=SECRET,
        audiences_dir=REPO / "audiences",
        templates_dir=REPO / "templates",
        public_url="https://news.bench.example",
        **extra,
    )


def sent_campaign(db, settings, start: datetime) -> int:  # type: ignore[no-untyped-def]
    """The seed article's campaign, migrated database, marked sent at `start`."""
    from sqlalchemy import update

    from newsletter.services.campaigns import create_campaign
    from newsletter.storage.schema import upgrade
    from newsletter.storage.sending_tables import campaigns

    upgrade(db)
    seed = REPO / "articles/neuroplasticity-ketamine.txt"
    campaign = create_campaign(db, settings, articles=[seed], segment="everyone", now=start)
    with db.write() as conn:
        conn.execute(update(campaigns).values(status="sent", started_at=start))
    return campaign


def prepare(folder: Path, deliveries: int) -> list[str]:
    """A sent campaign of the seed article with `deliveries` recipients; their click paths."""
    from sqlalchemy import insert, select, update

    from newsletter.delivery_ids import DeliveryIds
    from newsletter.domain.subscribers import email_hash
    from newsletter.storage.database import Database
    from newsletter.storage.sending_tables import campaigns
    from newsletter.storage.sending_tables import deliveries as table
    from newsletter.storage.tables import subscribers
    from newsletter.tokens import sign_many

    settings = _settings(folder)
    db = Database.from_url(settings.database_url)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    campaign = sent_campaign(db, settings, start)
    emails = [f"p{i:06d}@bench.example" for i in range(deliveries)]
    with db.write() as conn:
        conn.execute(update(campaigns).values(status="sent", started_at=start))
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": e,
                    "email_hash": email_hash(SECRET, e),
                    "status": "active",
                    "signed_up_at": start,
                    "created_at": start,
                    "updated_at": start,
                }
                for e in emails
            ],
        )
        conn.execute(
            insert(table),
            [
                {
                    "campaign_id": campaign,
                    "subscriber_id": i + 1,
                    "batch_seq": i // 100,
                    "status": "accepted",
                    "accepted_at": start,
                }
                for i in range(deliveries)
            ],
        )
        ids = list(conn.scalars(select(table.c.id).order_by(table.c.id)))
    db.close()
    tokens = sign_many("click", DeliveryIds({"a": SECRET}).link_ids(ids), key=SECRET)
    return [f"/r/L1/{t}" for t in tokens]


def serve(folder: Path, port: int, cache: bool) -> None:
    """The server process: the production app plus the bare endpoint."""
    from contextlib import ExitStack

    from fastapi import Request, Response

    from newsletter.bootstrap import open_database
    from newsletter.engagement.directory import LinkDirectory
    from newsletter.web.app import create_app, serve_app

    settings = _settings(folder)
    db = ExitStack().enter_context(open_database(settings))  # open until the process exits
    app = create_app(settings, db)
    if os.environ.get("BENCH_NOOP"):  # diagnosis only: the redirect without the recorder
        app.state.clicks.add = lambda seen: None
    if not cache:
        app.state.links = LinkDirectory(db, max_deliveries=0)
    location = "https://mindstream.example/book-a-consultation?utm_source=newsletter"
    headers = {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

    async def bare(request: Request) -> Response:  # the same kind of route as /r/
        return Response(status_code=302, headers=headers)

    app.router.add_route("/bare/{link_key}/{token}", bare, methods=["GET", "HEAD"])

    @app.get("/bench/flush")
    async def flush() -> dict:
        from starlette.concurrency import run_in_threadpool

        ok = await run_in_threadpool(app.state.clicks.flush, 120)
        return {"flushed": ok, "recorded": app.state.clicks.recorded}

    serve_app(app, host="127.0.0.1", port=port, log_level="warning")


class Server:
    def __init__(self, folder: Path, cache: bool = True):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "serve",
                "--folder",
                str(folder),
                "--port",
                str(self.port),
                *([] if cache else ["--no-cache"]),
            ],
            env={**os.environ, "NO_PROXY": "127.0.0.1"},
        )
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/bare/L1/x", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flush(self) -> dict:
        import httpx

        return httpx.get(f"{self.url}/bench/flush", timeout=180).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def hey(urls: list[str], seconds: float, rate_each: float | None) -> list[tuple[float, int]]:
    """One hey process of one connection per URL, all at once; every (latency s, status)."""
    procs = []
    for url in urls:
        args = [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            "1",
            "-disable-redirects",
            "-o",
            "csv",
            "-H",
            f"User-Agent: {CHROME}",
        ]
        if rate_each:
            args += ["-q", f"{rate_each:g}"]
        procs.append(subprocess.Popen([*args, url], stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        for row in csv.DictReader(io.StringIO(out)):
            results.append((float(row["response-time"]), int(row["status-code"])))
    return results


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


def fixed_rate(server: Server, paths: list[str], seconds: float, rate: float, n: int) -> dict:
    before = server.flush()["recorded"]
    results = hey([server.url + p for p in paths[:n]], seconds, rate / n)
    times = [t for t, status in results if status == 302]
    started = time.monotonic()
    flushed = server.flush()
    return {
        "requests": len(results),
        "rate": round(len(results) / seconds),
        "non_302": sum(1 for _, s in results if s != 302),
        "p50_ms": round(_pct(times, 50), 2),
        "p95_ms": round(_pct(times, 95), 2),
        "p99_ms": round(_pct(times, 99), 2),
        "recorded": flushed["recorded"] - before,
        "all_recorded": flushed["recorded"] - before == len(times),
        "flush_s": round(time.monotonic() - started, 2),
    }


def max_rate(server: Server, paths: list[str], seconds: float, n: int, prefix: str) -> float:
    urls = [server.url + p.replace("/r/", prefix, 1) for p in paths[:n]]
    results = hey(urls, seconds, None)
    return len(results) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="all", choices=["all", "serve"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.folder, args.port, cache=not args.no_cache)
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    paths = prepare(folder, 20_000)
    rounds = []
    for n in range(args.rounds):
        load = os.getloadavg()[0]
        server = Server(folder)
        try:
            fixed = fixed_rate(server, paths[n * 200 :], args.seconds, args.rate, args.connections)
            click = max_rate(server, paths[n * 200 + 100 :], args.seconds, args.connections, "/r/")
            server.flush()
            bare = max_rate(server, paths, args.seconds, args.connections, "/bare/")
        finally:
            server.stop()
        uncached = Server(folder, cache=False)
        try:
            cold = fixed_rate(
                uncached, paths[10_000 + n * 100 :], args.seconds, args.rate, args.connections
            )
        finally:
            uncached.stop()
        result = {
            "round": n + 1,
            "load_before": round(load, 2),
            "fixed": fixed,
            "fixed_no_cache": cold,
            "max_click_rps": round(click),
            "max_bare_rps": round(bare),
            "ratio": round(click / bare, 3),
        }
        print(json.dumps(result), flush=True)
        rounds.append(result)
    summary = {
        "median_p95_ms": statistics.median(r["fixed"]["p95_ms"] for r in rounds),
        "median_p95_no_cache_ms": statistics.median(r["fixed_no_cache"]["p95_ms"] for r in rounds),
        "median_max_click_rps": statistics.median(r["max_click_rps"] for r in rounds),
        "median_max_bare_rps": statistics.median(r["max_bare_rps"] for r in rounds),
        "median_ratio": statistics.median(r["ratio"] for r in rounds),
        "all_recorded": all(
            r["fixed"]["all_recorded"] and r["fixed_no_cache"]["all_recorded"] for r in rounds
        ),
    }
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    main()
