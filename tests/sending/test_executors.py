"""Executors and proof of death (#10 item 4), on SQLite and PostgreSQL.

A lease whose executor is provably gone (its kernel lock can be taken) is released at once;
a live executor's lock is never taken; where nothing can be proven the lease waits for its
expiry and `waits` says why, with a countdown; an executor that lost its own lock sends
nothing more. Executors that die are real processes killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from newsletter.services import leases, recovery
from newsletter.services.send_batch import ExecutorLost, send_batch
from newsletter.storage import batch_store, executors
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import send_batches
from tests.audience_db import pg_url  # noqa: F401
from tests.sending.support import add_audience, context, new_campaign

CHILD = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime, timedelta
    from newsletter.storage import batch_store, executors
    from newsletter.storage.database import Database

    url, batch_id, requested = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    db = Database.from_url(url)
    me = executors.register(db, "send", now=datetime.now(UTC))
    now = datetime.now(UTC)
    with db.write() as conn:
        batch = batch_store.claim(conn, batch_id, worker=me.name, now=now,
                                  lease=timedelta(seconds=120))
        if requested:
            batch_store.mark_requested(
                conn, batch, worker=me.name, now=now, lease=timedelta(seconds=120)
            )
    print(json.dumps({"name": me.name}), flush=True)
    sys.stdin.read()  # hold the lease until killed (or stdin closes)
    """
)


def _planned(db: Database, settings, count: int = 60) -> tuple[int, list[int]]:
    add_audience(db, settings, "exec.example", count)
    campaign_id = new_campaign(db, settings)
    recovery.start_due(db, settings.audiences_dir, now=datetime.now(UTC))
    with db.read() as conn:
        ids = list(
            conn.scalars(
                select(send_batches.c.id)
                .where(send_batches.c.campaign_id == campaign_id)
                .order_by(send_batches.c.seq)
            )
        )
    return campaign_id, ids


def _holder(url: str, batch_id: int, *, requested: bool) -> tuple[subprocess.Popen, str]:
    """A real process that registers, claims `batch_id` and holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(batch_id), "1" if requested else "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(os.environ),
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, "the holder process failed to start"
    return proc, json.loads(line)["name"]


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]


def _batch(db: Database, batch_id: int):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return conn.execute(select(send_batches).where(send_batches.c.id == batch_id)).one()


def _claimed_until(db: Database, batch_id: int) -> datetime:
    from newsletter.storage.sending_tables import send_attempts

    with db.read() as conn:
        claimed = conn.scalar(
            select(send_attempts.c.claimed_at).where(send_attempts.c.batch_id == batch_id)
        )
    return claimed + timedelta(seconds=120)


def test_a_killed_executors_leases_are_released_at_once(db, db_url, send_settings):
    _, ids = _planned(db, send_settings)
    quiet, requested = ids[0], ids[1]
    proc_a, name_a = _holder(db_url, quiet, requested=False)
    proc_b, name_b = _holder(db_url, requested, requested=True)
    assert {name_a, name_b} <= set(executors.registered(db))
    _kill(proc_a)
    _kill(proc_b)

    # Well inside the 120 s lease: only the proof of death can release these.
    assert recovery.reap_expired(db, now=datetime.now(UTC)) == 2
    never_sent, maybe_sent = _batch(db, quiet), _batch(db, requested)
    assert (never_sent.status, never_sent.lease_owner) == ("pending", None)
    assert "is gone" in never_sent.last_error
    assert (maybe_sent.status, maybe_sent.lease_owner) == ("unknown", None)
    # In doubt, it is judged as after an expired lease: never sooner than the lease's end.
    assert maybe_sent.unknown_at >= _claimed_until(db, requested)
    assert not {name_a, name_b} & set(executors.registered(db))  # forgotten
    folder = executors.lock_dir(db)
    if folder is not None:
        assert not (folder / f"{name_a}.lock").exists()


def test_a_live_executors_lock_is_never_taken(db, db_url, send_settings):
    campaign_id, ids = _planned(db, send_settings)
    proc_a, name_a = _holder(db_url, ids[0], requested=False)
    proc_b, name_b = _holder(db_url, ids[1], requested=True)
    try:
        for _ in range(3):  # every tick probes; none may take a live lock
            assert recovery.reap_expired(db, now=datetime.now(UTC)) == 0
        assert _batch(db, ids[0]).lease_owner == name_a
        assert _batch(db, ids[1]).lease_owner == name_b
        for name in (name_a, name_b):
            with executors.probe(db, name) as verdict:
                assert verdict.proof == executors.Proof.ALIVE
        assert {name_a, name_b} <= set(executors.registered(db))
        # Neither claims the other's batch, nor can anyone else while they live.
        with db.write() as conn:
            now = datetime.now(UTC)
            assert (
                batch_store.claim(conn, ids[0], worker=name_b, now=now, lease=timedelta(1)) is None
            )
        # What it queued is not queued again while it lives.
        with db.write() as conn:
            conn.execute(
                update(send_batches)
                .where(send_batches.c.id == ids[2])
                .values(dispatched_at=datetime.now(UTC), dispatched_by=name_a)
            )
        due = recovery.due_batches(
            db, now=datetime.now(UTC), lease=timedelta(seconds=120), dispatcher="someone-else"
        )
        assert ids[2] not in due and ids[3] in due
        assert leases.waits(db, campaign_id, now=datetime.now(UTC)) == []  # being sent
    finally:
        _kill(proc_a)
        _kill(proc_b)
    # Dead now: what it queued goes at once, not after a lease.
    recovery.reap_expired(db, now=datetime.now(UTC))
    due = recovery.due_batches(
        db, now=datetime.now(UTC), lease=timedelta(seconds=120), dispatcher="someone-else"
    )
    assert ids[0] in due and ids[2] in due


def test_an_unprovable_lease_waits_and_says_why(db, send_settings):
    campaign_id, ids = _planned(db, send_settings)
    now = datetime.now(UTC)
    with db.write() as conn:  # an owner that never registered (an older version)
        batch_store.claim(conn, ids[0], worker="old-host-42", now=now, lease=timedelta(seconds=90))
    assert recovery.reap_expired(db, now=now) == 0
    assert _batch(db, ids[0]).status == "in_flight"
    lines = [w.describe(now) for w in leases.waits(db, campaign_id, now=now)]
    assert len(lines) == 1
    assert "held by old-host-42: cannot prove it is gone (not a registered executor" in lines[0]
    assert "90 s left" in lines[0]
    # Its lease still expires as before.
    assert recovery.reap_expired(db, now=now + timedelta(seconds=91)) == 1
    assert _batch(db, ids[0]).status == "pending"


def _lose_own_lock(db: Database, me: executors.Executor) -> None:
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
                    "WHERE l.locktype = 'advisory' AND l.classid::bigint = :ns "
                    "AND l.objid::bigint = (SELECT slot FROM executors WHERE name = :n)"
                ),
                {"ns": executors.NAMESPACE, "n": me.name},
            )
            conn.commit()
    else:
        folder = executors.lock_dir(db)
        assert folder is not None
        (folder / f"{me.name}.lock").unlink()


def test_an_executor_that_lost_its_lock_sends_nothing(db, send_settings, emulator):
    _, ids = _planned(db, send_settings)
    me = executors.register(db, "send", now=datetime.now(UTC))
    ctx = context(db, send_settings, emulator.base_url)
    ctx.executor_alive = me.alive
    try:
        assert me.alive()
        assert send_batch(ctx, ids[0], worker=me.name) == "accepted"
        sent = emulator.stats()["requests"]
        _lose_own_lock(db, me)
        assert not me.alive()
        with pytest.raises(ExecutorLost, match="nothing was sent"):
            send_batch(ctx, ids[1], worker=me.name)
        assert emulator.stats()["requests"] == sent  # no request left
    finally:
        me.close()


def test_an_engine_whose_executor_lock_is_lost_halts(db, send_settings, emulator):
    from newsletter.dispatch.local import ThreadPoolDispatcher
    from newsletter.engine import Engine

    me = executors.register(db, "engine", now=datetime.now(UTC))
    ctx = context(db, send_settings, emulator.base_url)
    ctx.executor_alive = me.alive
    pool = ThreadPoolDispatcher(ctx, threads=1, worker_id=me.name, executor=me)
    messages: list[str] = []
    engine = Engine(send_settings, db, ctx, pool, report=messages.append)
    engine.start()
    try:
        assert engine.run_tick("test") is not None
        _lose_own_lock(db, me)
        assert engine.run_tick("test") is None
        assert engine.failure is not None and "executor lock was lost" in engine.failure
        assert any(m.startswith("Engine halted: this process's executor lock") for m in messages)
    finally:
        engine.stop()


def test_postgres_executors_never_share_a_lock_key(pg_url):  # noqa: F811
    """Even if the slot sequence is reset by hand, a new executor never shares a live one's
    advisory-lock key: registration takes the next free slot."""
    db = Database.from_url(pg_url)
    first = executors.register(db, "send", now=datetime.now(UTC))
    try:
        with db.write() as conn:
            conn.execute(text("DELETE FROM executors"))
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('executors', 'slot'), 1, false)")
            )
        second = executors.register(db, "send", now=datetime.now(UTC))
        try:
            with db.read() as conn:
                slots = conn.execute(text("SELECT slot FROM executors")).scalars().all()
            assert slots == [2]  # slot 1 is still locked by the first
            assert first.alive() and second.alive()
        finally:
            second.close()
    finally:
        first.close()
        db.close()
