"""Engine factory and transaction helpers: one code path for SQLite and PostgreSQL.

SQLite gets WAL, a busy timeout, foreign keys and `BEGIN IMMEDIATE` for write transactions,
so concurrent writers queue on the lock instead of failing half-way with "database is locked".
Reads use a deferred `BEGIN` and never block writers (WAL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from newsletter.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 2_000
_READ_ONLY = "newsletter_read_only"


def normalize_database_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_database_engine(url: str) -> Engine:
    """Build an engine for a SQLite or PostgreSQL URL, or raise ConfigurationError."""
    url = normalize_database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"database URL {url!r} is not a valid SQLAlchemy URL",
            where="setting `database_url` (NEWSLETTER_DATABASE_URL)",
            fix="use sqlite:///newsletter.db or postgresql://user@host/dbname",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigurationError(
        f"unsupported database {backend!r}",
        where="setting `database_url` (NEWSLETTER_DATABASE_URL)",
        fix="use a sqlite:/// or postgresql:// URL",
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so our BEGIN is the one that runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        # SQLite's default 2 MB page cache per connection: the sending engine holds one
        # connection per thread, and its work is index lookups (bulk loads raise it for
        # their own connection: storage.bulk.bulk_transaction).
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@dataclass
class Database:
    """An engine plus the two ways services use it: short write transactions and reads."""

    engine: Engine
    # SQLite admits one writer at a time. Threads of this process queue here, woken the
    # moment the writer commits, instead of sleeping in SQLite's busy handler (which backs
    # off up to 100 ms); other processes still queue on the busy timeout.
    _writer: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(create_database_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite), committed on success."""
        queue = self._writer if self.dialect == "sqlite" else nullcontext()
        with queue, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection; never takes the SQLite write lock."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_READ_ONLY: True})
            try:
                yield conn
            finally:
                conn.rollback()

    def close(self) -> None:
        self.engine.dispose()


def tuples(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Rows as a list typed as plain tuples, for unpacking: under mypy SQLAlchemy 2.1's
    variadic `Row` unpacks to `object` (and `Result.tuples()` is deprecated). The rows
    themselves are unchanged."""
    return list(rows)


def connection_problem(error: Exception, url: str) -> ConfigurationError:
    """A database that cannot be opened or reached, as the usual message (what, where, fix)."""
    parsed = make_url(normalize_database_url(url))
    shown = parsed.render_as_string(hide_password=True)
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_problem(parsed.database or "", detail, shown)
    return ConfigurationError(
        f"cannot connect to the database ({detail})",
        where=f"{shown} (NEWSLETTER_DATABASE_URL)",
        fix="check that the server is running and reachable, and the host, port, user, "
        "password and database name in NEWSLETTER_DATABASE_URL",
    )


def _sqlite_problem(database: str, detail: str, shown: str) -> ConfigurationError:
    import os
    from pathlib import Path

    path = Path(database)
    where = f"{path} (NEWSLETTER_DATABASE_URL {shown})"
    if path.is_dir():
        what, fix = "is a folder, not a database file", "point the URL at a .db file"
    elif not path.parent.is_dir():
        what, fix = "its folder does not exist", f"create {path.parent}, or correct the path"
    elif path.exists() and "not a database" in detail:
        what = "is not a SQLite database (some other file)"
        fix = "point NEWSLETTER_DATABASE_URL at the newsletter's database file"
    elif not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        what = "cannot be written by this user (permission denied)"
        fix = "give this user write access to the file and its folder (SQLite writes beside it)"
    else:
        what, fix = f"cannot be opened ({detail})", "check the path and its permissions"
    return ConfigurationError(f"the SQLite database {what}", where=where, fix=fix)
