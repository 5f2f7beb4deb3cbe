"""Signed Event Webhook benchmark (issue #11): the app as `newsletter serve` runs it, SQLite, one
process; batches of 1,000 signed events (`processed` + `delivered` for 500 deliveries, 10 %
of them replays that deduplication must drop) posted over HTTP.

    python bench/webhook_events.py [--batches 60] [--senders 4] [--rounds 3]

Per round:
1. one batch alone: acknowledgement time, and time until it is verified, stored, deduplicated
   and applied (its inbox row processed, counters moved);
2. sustained: `--batches` batches from `--senders` concurrent senders as fast as acks come;
   ack p50/p99, and events applied per second from the first post to the last row processed.
Medians over rounds, with the load average before each round.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.clicks import SECRET, Server, _settings  # noqa: E402

EVENTS_PER_BATCH = 1000


def _key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(0xBE7C4, ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()


def prepare(folder: Path, deliveries: int) -> None:
    from bench.clicks import prepare as prepare_clicks

    prepare_clicks(folder, deliveries)
    (folder / "webhook.key").write_text(_key()[1])


def batches(first_delivery: int, count: int) -> list[bytes]:
    """`count` bodies of 1,000 events; every tenth event repeats an earlier one (a replay)."""
    from newsletter.delivery_ids import DeliveryIds

    ids = DeliveryIds({"a": SECRET})
    now = int(time.time())
    bodies = []
    delivery = first_delivery
    for b in range(count):
        events: list[dict] = []
        while len(events) < EVENTS_PER_BATCH:
            [send_id] = ids.send_ids([delivery])
            for kind in ("processed", "delivered"):
                events.append(
                    {
                        "email": f"p{delivery:06d}@bench.example",
                        "event": kind,
                        "timestamp": now,
                        "send_id": send_id,
                        "sg_event_id": f"{kind}-{delivery}",
                        "sg_message_id": f"m{delivery}.filter-{b}",
                        "category": ["newsletter"],
                    }
                )
            if len(events) % 10 == 0:
                events.append(dict(events[-1]))  # a replay: same ids
            delivery += 1
        bodies.append(json.dumps(events[:EVENTS_PER_BATCH]).encode())
    return bodies


def _post(url: str, body: bytes, key) -> float:  # type: ignore[no-untyped-def]
    import httpx
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    ts = str(int(time.time()))
    signature = base64.b64encode(key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    started = time.perf_counter()
    response = httpx.post(
        url,
        content=body,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        },
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _processed(db, total: int) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from newsletter.storage.sending_tables import webhook_inbox

    with db.read() as conn:
        done = conn.scalar(
            select(func.count())
            .select_from(webhook_inbox)
            .where(webhook_inbox.c.processed_at.is_not(None))
        )
    return done >= total


def _wait(db, total: int, timeout: float = 300) -> float:  # type: ignore[no-untyped-def]
    while not _processed(db, total):
        if timeout <= 0:
            raise TimeoutError
        time.sleep(0.01)
        timeout -= 0.01
    return time.perf_counter()


def one_round(folder: Path, n_batches: int, senders: int, first: int) -> dict:
    from newsletter.storage.database import Database

    key, _ = _key()
    server = Server(folder)
    db = Database.from_url(_settings(folder).database_url)
    url = f"{server.url}/webhooks/sendgrid"
    try:
        with db.read() as conn:
            from sqlalchemy import func, select

            from newsletter.storage.sending_tables import webhook_inbox

            already = conn.scalar(select(func.count()).select_from(webhook_inbox))
        bodies = batches(first, n_batches + 1)
        started = time.perf_counter()
        single_ack = _post(url, bodies[0], key)
        single = _wait(db, already + 1) - started
        acks: list[float] = []
        queue = list(bodies[1:])
        lock = threading.Lock()

        def sender() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                acks.append(_post(url, body, key))

        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        finished = _wait(db, already + 1 + n_batches)
        acks.sort()
        return {
            "single_ack_ms": round(single_ack * 1000, 1),
            "single_applied_s": round(single, 3),
            "ack_p50_ms": round(acks[len(acks) // 2] * 1000, 1),
            "ack_p99_ms": round(acks[min(len(acks) - 1, int(len(acks) * 0.99))] * 1000, 1),
            "events_per_s": round(n_batches * EVENTS_PER_BATCH / (finished - started)),
        }
    finally:
        db.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    per_round = (args.batches + 1) * EVENTS_PER_BATCH // 2 + 1000
    prepare(folder, per_round * args.rounds)
    os.environ["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = (folder / "webhook.key").read_text()
    rounds = []
    for n in range(args.rounds):
        load = os.getloadavg()[0]
        result = {
            "round": n + 1,
            "load_before": round(load, 2),
            "at": datetime.now(UTC).isoformat(),
            **one_round(folder, args.batches, args.senders, 1 + n * per_round),
        }
        print(json.dumps(result), flush=True)
        rounds.append(result)
    summary = {
        key: statistics.median(r[key] for r in rounds)
        for key in ("single_applied_s", "ack_p99_ms", "events_per_s")
    }
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    main()
