"""Whole-database locks for jobs that must run once at a time: the engine, an import.

PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) held on a dedicated connection
for the job's lifetime. SQLite: an exclusive `flock` on `<database file>.<purpose>.lock`.
Both vanish with the process that holds them, so a killed job never leaves a stale lock.
A second taker gets `LockTaken`, naming the holder where the database can tell.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path

from sqlalchemy import Connection, text

from newsletter.errors import NewsletterError
from newsletter.storage.database import Database

log = logging.getLogger(__name__)


class LockTaken(NewsletterError):
    """Another process holds this lock on this database."""


def advisory_key(purpose: str) -> int:
    """A purpose as a pg advisory lock key: its first 8 bytes as a signed 64-bit integer
    ("engine" → b"nlengine"). Advisory locks are scoped to the current database."""
    return int.from_bytes(("nl" + purpose).encode()[:8].ljust(8, b"\0"), "big", signed=True)


class DatabaseLock:
    """Held for a job's lifetime; `acquire()` raises LockTaken if another process has it."""

    def __init__(self, taken: str, fix: str):
        self.taken, self.fix = taken, fix  # the message and the fix for a second taker

    def acquire(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        return True

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


AdvisoryKey = int | tuple[int, int]  # one bigint, or two int4 (namespace, number)


def advisory_args(key: AdvisoryKey) -> tuple[str, dict[str, int]]:
    """The argument list of pg_*advisory_lock for a key, and its bound values."""
    if isinstance(key, tuple):
        return ":a, :b", {"a": key[0], "b": key[1]}
    return ":a", {"a": key}


def lock_row(key: AdvisoryKey) -> dict[str, int]:
    """How pg_locks shows a key: (classid, objid, objsubid); objsubid 1 = bigint, 2 = pair."""
    if isinstance(key, tuple):
        return {"c": key[0] & 0xFFFFFFFF, "o": key[1] & 0xFFFFFFFF, "s": 2}
    return {"c": (key >> 32) & 0xFFFFFFFF, "o": key & 0xFFFFFFFF, "s": 1}


LOCK_ROW = (
    "l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :c "
    "AND l.objid::bigint = :o AND l.objsubid = :s "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)

HELD_HERE_SQL = (  # constants only: the key is bound (psycopg's %(name)s placeholders)
    "SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE "  # noqa: S608
    + LOCK_ROW.replace(":c", "%(c)s").replace(":o", "%(o)s").replace(":s", "%(s)s")
    + " AND l.pid = pg_backend_pid())"
)


class PostgresAdvisoryLock(DatabaseLock):
    def __init__(self, db: Database, key: AdvisoryKey, taken: str, fix: str):
        super().__init__(taken, fix)
        self._db, self.key = db, key
        self._conn: Connection | None = None
        self._guard = threading.Lock()  # one connection, checked from many sender threads

    def acquire(self) -> None:
        conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        args, values = advisory_args(self.key)
        try:
            got = conn.scalar(text(f"SELECT pg_try_advisory_lock({args})"), values)
            holder = None
            if not got:
                holder = conn.scalar(
                    text(
                        "SELECT coalesce(host(a.client_addr), 'local socket') || ' pid ' || l.pid "
                        "FROM pg_locks l "
                        "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE " + LOCK_ROW
                    ),
                    lock_row(self.key),
                )
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            raise LockTaken(
                self.taken + (f" (PostgreSQL backend {holder})" if holder else ""),
                where="pg_try_advisory_lock",
                fix=self.fix,
            )
        self._conn = conn

    def adopt(self, conn: Connection, key: AdvisoryKey) -> None:
        """Hold a lock its creator already took on `conn` (an executor registers its row and
        takes its lock in one transaction)."""
        self.key, self._conn = key, conn.execution_options(isolation_level="AUTOCOMMIT")

    def alive(self) -> bool:
        """The session is up and still holds the lock (asked of the server, not assumed)."""
        with self._guard:
            if self._conn is None:
                return False
            try:
                # The DBAPI cursor itself: this runs before every provider request.
                cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(HELD_HERE_SQL, lock_row(self.key))
                    row = cursor.fetchone()
                    held = row is not None and row[0]
                finally:
                    cursor.close()
            except Exception:
                log.exception("the connection holding a database lock was lost")
                return False
            return bool(held)

    def release(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        args, values = advisory_args(self.key)
        with contextlib.suppress(Exception):
            conn.scalar(text(f"SELECT pg_advisory_unlock({args})"), values)
        # Close the DBAPI connection itself: a pooled connection would keep a session lock.
        conn.invalidate()
        conn.close()


class SqliteFileLock(DatabaseLock):
    def __init__(self, path: Path, taken: str, fix: str):
        super().__init__(taken, fix)
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockTaken(
                self.taken + (f" (process {holder})" if holder else ""),
                where=str(self.path),
                fix=self.fix,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def alive(self) -> bool:
        """Held, and the path still names the locked file (not removed or replaced)."""
        fd = self._fd
        if fd is None:
            return False
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class _NoLock(DatabaseLock):
    """An in-memory SQLite database cannot be shared between processes anyway."""

    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


def database_lock(db: Database, purpose: str, *, taken: str, fix: str) -> DatabaseLock:
    """The lock named `purpose` ("engine", "import") for this database."""
    if db.dialect == "postgresql":
        return PostgresAdvisoryLock(db, advisory_key(purpose), taken, fix)
    if db.dialect == "sqlite":
        name = db.engine.url.database
        if not name or name == ":memory:" or name.startswith("file:"):
            return _NoLock(taken, fix)
        return SqliteFileLock(Path(name).with_name(f"{Path(name).name}.{purpose}.lock"), taken, fix)
    raise NewsletterError(f"no {purpose} lock for the {db.dialect} dialect")
