"""Executors: every process that sends batches, and the kernel lock that proves it alive.

An executor (the engine, a `campaign send`, each Dramatiq worker process) registers with a
random name and holds a lock the kernel drops when the process dies, however it dies:

- SQLite: an exclusive `flock` on `<database file>.executors/<name>.lock`;
- PostgreSQL: a session advisory lock `pg_try_advisory_lock(NAMESPACE, slot)` held on a
  dedicated connection, `slot` being the executor's row id (a serial, never reused), so two
  executors never share a key, and no key collides with the single-key engine/import locks.

Leases record the executor's name (`send_batches.lease_owner`). Whoever can take another
executor's lock has proved it dead (`probe`): it then releases that executor's leases and
forgets it while still holding the lock. A live executor's lock can never be taken. Where the
lock cannot be examined (no registry row, a lock file that was removed) nothing is proven and
leases wait out their expiry. docs/sending.md, "Executors and proof of death".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Column, Integer, String, Table, delete, insert, select, text

from newsletter.storage.database import Database
from newsletter.storage.locks import DatabaseLock, PostgresAdvisoryLock, SqliteFileLock
from newsletter.storage.tables import UTCDateTime, metadata

NAMESPACE = int.from_bytes(b"nlex", "big")  # the first advisory-lock key of every executor

executors = Table(
    "executors",
    metadata,
    Column("slot", Integer, primary_key=True),  # PostgreSQL: the second advisory-lock key
    Column("name", String(64), nullable=False, unique=True),  # = send_batches.lease_owner
    Column("kind", String(16), nullable=False),  # engine | send | worker
    Column("host", String(100), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
)

_mine: set[str] = set()  # names registered by this process: never probed by ourselves


class Proof(StrEnum):
    DEAD = "dead"  # its lock was free: the process is gone
    ALIVE = "alive"  # its lock is held
    UNPROVEN = "unproven"  # the lock cannot be examined: wait for the lease to expire


@dataclass
class Verdict:
    proof: Proof
    reason: str = ""


def new_name() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(8)}"


def lock_dir(db: Database) -> Path | None:
    """SQLite: the folder of executor lock files beside the database (None: in memory)."""
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).with_name(f"{Path(name).name}.executors")


class Executor:
    """This process as an executor; `alive()` is checked before every provider request."""

    def __init__(self, db: Database, name: str, kind: str, lock: DatabaseLock | None):
        self.db, self.name, self.kind, self._lock = db, name, kind, lock
        self.lost = False

    def alive(self) -> bool:
        if self._lock is None:  # an in-memory database: one process by construction
            return True
        if not self.lost and not self._lock.alive():
            self.lost = True
        return not self.lost

    def close(self) -> None:
        """A clean exit: forget the row, remove the file, then drop the lock."""
        _mine.discard(self.name)
        with contextlib.suppress(Exception), self.db.write() as conn:
            conn.execute(delete(executors).where(executors.c.name == self.name))
        if isinstance(self._lock, SqliteFileLock):
            with contextlib.suppress(OSError):
                os.unlink(self._lock.path)
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def register(db: Database, kind: str, *, now: datetime) -> Executor:
    """Lock first, row second: a registered executor always holds its lock."""
    name = new_name()
    row = {"name": name, "kind": kind, "host": socket.gethostname()[:100], "pid": os.getpid()}
    taken = "executor lock already held"
    fix = "executor names are random: retry"
    if db.dialect == "postgresql":
        # Row and lock in one transaction of the lock's own session: nobody sees the row
        # before the lock is held.
        lock = PostgresAdvisoryLock(db, (NAMESPACE, 0), taken, fix)
        conn = db.engine.connect()
        try:
            for _ in range(5):  # a slot is never reused, unless the table was emptied by hand
                slot: int = conn.execute(
                    insert(executors).values(**row, started_at=now).returning(executors.c.slot)
                ).scalar_one()
                keys = {"a": NAMESPACE, "b": slot}
                if conn.scalar(text("SELECT pg_try_advisory_lock(:a, :b)"), keys):
                    conn.commit()
                    break
                conn.rollback()  # the sequence moved on: the next row gets another slot
            else:
                raise RuntimeError("no free executor slot after 5 tries")
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        lock.adopt(conn, (NAMESPACE, slot))
        executor = Executor(db, name, kind, lock)
    else:
        folder = lock_dir(db)
        file_lock = None
        if folder is not None:
            folder.mkdir(mode=0o700, exist_ok=True)
            file_lock = SqliteFileLock(folder / f"{name}.lock", taken, fix)
            file_lock.acquire()
        executor = Executor(db, name, kind, file_lock)
        try:
            with db.write() as conn:
                conn.execute(insert(executors).values(**row, started_at=now))
        except BaseException:
            executor.close()
            raise
    _mine.add(name)
    return executor


def registered(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.scalars(select(executors.c.name)))


@contextlib.contextmanager
def probe(db: Database, name: str, *, forget: bool = True) -> Iterator[Verdict]:
    """Try to take `name`'s lock. While the block runs with DEAD, we hold it: the executor
    cannot come back (names are never reused), so its leases can be released safely; on
    leaving a DEAD block its row (and lock file) are removed, then the lock dropped
    (`forget=False`: only look, e.g. for status output)."""
    if name in _mine:
        yield Verdict(Proof.ALIVE, "this process")
        return
    with db.read() as conn:
        slot = conn.scalar(select(executors.c.slot).where(executors.c.name == name))
    if slot is None:
        yield Verdict(Proof.UNPROVEN, "not a registered executor (an older version, or a test)")
        return
    if db.dialect == "postgresql":
        with _probe_postgres(db, name, slot, forget) as verdict:
            yield verdict
        return
    folder = lock_dir(db)
    if folder is None:
        yield Verdict(Proof.UNPROVEN, "an in-memory database")
        return
    with _probe_file(db, name, folder / f"{name}.lock", forget) as verdict:
        yield verdict


@contextlib.contextmanager
def _probe_file(db: Database, name: str, path: Path, forget: bool) -> Iterator[Verdict]:
    try:
        fd = os.open(path, os.O_RDWR)  # never create: a missing file proves nothing
    except FileNotFoundError:
        yield Verdict(Proof.UNPROVEN, f"its lock file {path} is missing")
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield Verdict(Proof.ALIVE)
            return
        yield Verdict(Proof.DEAD)
        if not forget:
            return
        _forget(db, name)
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                os.unlink(path)
    finally:
        os.close(fd)  # drops the flock if we took it


@contextlib.contextmanager
def _probe_postgres(db: Database, name: str, slot: int, forget: bool) -> Iterator[Verdict]:
    conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.scalar(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": NAMESPACE, "b": slot})
        if not got:
            conn.close()
            yield Verdict(Proof.ALIVE)
            return
        try:
            yield Verdict(Proof.DEAD)
            if forget:
                _forget(db, name)
        finally:
            conn.invalidate()  # closing the session drops the lock, whatever happened above
            conn.close()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.invalidate()
            conn.close()
        raise


def _forget(db: Database, name: str) -> None:
    with db.write() as conn:
        conn.execute(delete(executors).where(executors.c.name == name))
