"""What the stall protections cost per batch (issue #10): `python bench/stall_checks.py
[--recipients 20000] [--batches 100,1000]`.

One campaign on SQLite through the real `sendgrid` client to the emulator (its own process),
every batch sent by `send_batch` in this thread, so `time.thread_time()` is the sender's own
CPU. Measured around: the pre-request check (`_request_gate`), arming and disarming the
request deadline (watchdog), registering sockets and checking every write against the
deadline, and the whole fenced `mark_requested` (its lease-renewing UPDATE is the new part;
the whole call is counted, an upper bound). Reported as a share of `send_batch`'s CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.send import EmulatorProcess, _settings, prepare  # noqa: E402

spent: Counter = Counter()
INSTRUMENT = "--bare" not in sys.argv  # --bare: send_batch's CPU alone, no wrappers (A/B)


def _timed(name, fn):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.thread_time() - started

    return wrapper


def _timed_context(name, factory):  # type: ignore[no-untyped-def]
    """Time entering and leaving a context manager, not its body."""

    @contextlib.contextmanager
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        manager = factory(*args, **kwargs)
        value = manager.__enter__()
        spent[name] += time.thread_time() - started
        try:
            yield value
        finally:
            started = time.thread_time()
            manager.__exit__(None, None, None)
            spent[name] += time.thread_time() - started

    return wrapper


def measure(recipients: int, batch: int) -> dict:
    from newsletter.bootstrap import send_context
    from newsletter.delivery import sendgrid

    try:
        from newsletter.delivery import deadline
    except ImportError:
        deadline = None  # type: ignore[assignment]
    from newsletter.services import send_batch as sb
    from newsletter.services.campaign_schedule import start_now
    from newsletter.services.campaigns import create_campaign
    from newsletter.services.recovery import start_due
    from newsletter.storage import batch_store
    from newsletter.storage.database import Database
    from newsletter.storage.sending_tables import send_batches

    folder = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    prepare(folder, recipients)
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
        start_now(db, settings, campaign_id, now=datetime.now(UTC))
        start_due(db, settings.audiences_dir, now=datetime.now(UTC))  # plans the batches
        with db.read() as conn:
            ids = list(
                conn.scalars(
                    send_batches.select()
                    .with_only_columns(send_batches.c.id)
                    .where(send_batches.c.campaign_id == campaign_id)
                    .order_by(send_batches.c.seq)
                )
            )
        ctx = send_context(settings, db)
        if deadline is not None and INSTRUMENT:  # None: the code before the fix (for the A/B)
            sb._request_gate = _timed("gate", sb._request_gate)
            sb.request_deadline = _timed_context("deadline", sb.request_deadline)
            deadline.request_deadline = _timed_context("deadline", deadline.request_deadline)
            sendgrid._check_write = _timed("socket_checks", sendgrid._check_write)
            deadline.Deadline.add_socket = _timed("socket_checks", deadline.Deadline.add_socket)
        if INSTRUMENT:
            batch_store.mark_requested = _timed("mark_requested", batch_store.mark_requested)
        outcomes: Counter = Counter()
        total = 0.0
        process_started = time.process_time()  # every thread: the watchdog's too
        for batch_id in ids:
            started = time.thread_time()
            outcomes[sb.send_batch(ctx, batch_id, worker="bench")] += 1
            total += time.thread_time() - started
        process_cpu = time.process_time() - process_started
        db.close()
    finally:
        emulator.stop()
    checks = spent["gate"] + spent["deadline"] + spent["socket_checks"]
    return {
        "recipients": recipients,
        "batch": batch,
        "batches": len(ids),
        "outcomes": dict(outcomes),
        "send_batch_cpu_ms_per_batch": round(1000 * total / len(ids), 3),
        "process_cpu_ms_per_batch": round(1000 * process_cpu / len(ids), 3),
        "checks_us_per_batch": round(1e6 * checks / len(ids), 1),
        "checks_share": f"{checks / total:.2%}",
        "mark_requested_us_per_batch": round(1e6 * spent["mark_requested"] / len(ids), 1),
        "checks_plus_mark_requested_share": f"{(checks + spent['mark_requested']) / total:.2%}",
        "detail_us_per_batch": {k: round(1e6 * v / len(ids), 1) for k, v in spent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--batches", default="100,1000")
    parser.add_argument("--bare", action="store_true", help="no wrappers: send_batch CPU only")
    args = parser.parse_args()
    for batch in (int(b) for b in args.batches.split(",")):
        print(measure(args.recipients, batch), flush=True)
        spent.clear()


if __name__ == "__main__":
    main()
