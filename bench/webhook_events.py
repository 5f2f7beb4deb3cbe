"""Signed Event Webhook benchmark (issue #11): the app as `newsletter serve` runs it, SQLite, one
process; batches of 1,000 signed events (`processed` + `delivered` for 500 deliveries, 10 %
of them replays that deduplication must drop) posted over HTTP.

    python bench/webhook_events.py [--batches 60] [--senders 4] [--rounds 3]

Per round:
1. one batch alone: acknowledgement time, and time until it is verified, stored, deduplicated
   and applied (its inbox row processed, counters moved);
2. paced: `--batches` batches at `--rate` batches/s (5 = 5,000 events/s) from `--senders`
   threads: ack p50/p99, and events applied per second from the first post to the last row
   processed (below the rate if processing falls behind);
3. saturated: as many batches again, as fast as acks come: the highest rate, and its acks.
Bodies are signed before the clock starts.
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


def _signed(bodies: list[bytes], key) -> list[tuple[bytes, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """Each body with its signature headers, made before the clock starts (the load
    generator only sends)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    ts = str(int(time.time()))
    out = []
    for body in bodies:
        signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        out.append((body, {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }))  # fmt: skip
    return out


def _post(client, url: str, signed: tuple[bytes, dict[str, str]]) -> float:  # type: ignore[no-untyped-def]
    body, headers = signed
    started = time.perf_counter()
    response = client.post(url, content=body, headers=headers)
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


def _send(url: str, signed: list, senders: int, rate: float | None) -> list[float]:  # type: ignore[type-arg]
    """Post every body from `senders` threads: at `rate` batches/s (each at its time slot), or
    as fast as acknowledgements come (None). The acknowledgement times."""
    import httpx

    acks: list[float] = []
    slots = list(enumerate(signed))
    lock = threading.Lock()
    start = time.perf_counter()

    def sender() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if not slots:
                        return
                    n, item = slots.pop(0)
                if rate:
                    time.sleep(max(0.0, start + n / rate - time.perf_counter()))
                acks.append(_post(client, url, item))

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(acks)


def _ms(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * p))] * 1000, 1)


def one_round(folder: Path, n_batches: int, senders: int, first: int, rate: float) -> dict:
    from sqlalchemy import func, select

    from newsletter.storage.database import Database
    from newsletter.storage.sending_tables import webhook_inbox

    key, _ = _key()
    server = Server(folder)
    db = Database.from_url(_settings(folder).database_url)
    url = f"{server.url}/webhooks/sendgrid"
    try:
        with db.read() as conn:
            already = conn.scalar(select(func.count()).select_from(webhook_inbox))
        signed = _signed(batches(first, 2 * n_batches + 1), key)
        started = time.perf_counter()
        single_ack = _send(url, signed[:1], 1, None)[0]
        single = _wait(db, already + 1) - started
        # At the target rate: acknowledgements, and whether processing keeps up.
        started = time.perf_counter()
        paced = _send(url, signed[1 : n_batches + 1], senders, rate)
        paced_done = _wait(db, already + 1 + n_batches) - started
        # Saturated: as fast as acknowledgements come.
        started = time.perf_counter()
        saturated = _send(url, signed[n_batches + 1 :], senders, None)
        finished = _wait(db, already + 1 + 2 * n_batches)
        return {
            "single_ack_ms": round(single_ack * 1000, 1),
            "single_applied_s": round(single, 3),
            "paced_events_per_s": round(n_batches * EVENTS_PER_BATCH / paced_done),
            "paced_ack_p50_ms": _ms(paced, 0.5),
            "paced_ack_p99_ms": _ms(paced, 0.99),
            "max_events_per_s": round(n_batches * EVENTS_PER_BATCH / (finished - started)),
            "max_ack_p99_ms": _ms(saturated, 0.99),
        }
    finally:
        db.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5.0, help="batches/s in the paced phase")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    per_round = (2 * args.batches + 1) * EVENTS_PER_BATCH // 2 + 1000
    prepare(folder, per_round * args.rounds)
    os.environ["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = (folder / "webhook.key").read_text()
    rounds = []
    for n in range(args.rounds):
        load = os.getloadavg()[0]
        result = {
            "round": n + 1,
            "load_before": round(load, 2),
            "at": datetime.now(UTC).isoformat(),
            **one_round(folder, args.batches, args.senders, 1 + n * per_round, args.rate),
        }
        print(json.dumps(result), flush=True)
        rounds.append(result)
    summary = {
        key: statistics.median(r[key] for r in rounds)
        for key in ("single_applied_s", "paced_events_per_s", "paced_ack_p99_ms",
                    "max_events_per_s", "max_ack_p99_ms")
    }  # fmt: skip
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    main()
