"""Database fixtures for the audience suites: every test runs on SQLite and on PostgreSQL.

SQLite: a migrated template file is copied per test. PostgreSQL: one uniquely named database
per test session on 127.0.0.1:5432 (or NEWSLETTER_TEST_POSTGRES_URL's server), migrated once,
truncated before each test and dropped at exit. Import the fixtures into a conftest.py or a
test module: `from tests.audience_db import db, db_url  # noqa: F401`.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from newsletter.storage.database import Database
from newsletter.storage.schema import head_revision, upgrade
from newsletter.storage.tables import metadata
from tests.required_services import unavailable

# Every table module registers on the same MetaData; truncate them all between tests.
with contextlib.suppress(ImportError):
    importlib.import_module("newsletter.storage.sending_tables")

ADMIN_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_state: dict[str, object] = {}

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _sqlite_template() -> Path:
    if "sqlite" not in _state:
        folder = Path(tempfile.mkdtemp(prefix="newsletter-sqlite-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "template.db"
        db = Database.from_url(f"sqlite:///{path}")
        upgrade(db)
        db.close()  # the last connection closing folds the WAL back into the file
        _state["sqlite"] = path
    return _state["sqlite"]  # type: ignore[return-value]


def _postgres_url() -> str:
    if "postgres" not in _state:
        name = f"newsletter_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                _drop_orphans(conn)
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            _state["postgres"] = exc
        else:
            url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
            db = Database.from_url(url)
            upgrade(db)
            db.close()
            atexit.register(_drop, name)
            _state["postgres"] = url
    value = _state["postgres"]
    if isinstance(value, Exception):
        unavailable("PostgreSQL", f"not reachable at {ADMIN_URL}: {value}")
    return value  # type: ignore[return-value]


def _drop_orphans(conn: psycopg.Connection) -> None:
    """Drop test databases left by sessions that were killed (their pid is gone)."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'newsletter\\_test\\_%'"
    ).fetchall()
    for (name,) in rows:
        try:
            pid = int(name.split("_")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (ValueError, IndexError, PermissionError):
            continue


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    db = Database.from_url(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.write() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # A test may have faked an old schema revision; put the real one back.
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
    db.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database URL, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "newsletter-test.db"
        shutil.copyfile(_sqlite_template(), path)
        return f"sqlite:///{path}"
    url = _postgres_url()
    _truncate(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.from_url(db_url)
    yield database
    database.close()


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL test database alone, emptied: for behaviour only PostgreSQL has."""
    url = _postgres_url()
    _truncate(url)
    return url


@contextlib.contextmanager
def scratch_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of its own (no schema), dropped afterwards: for
    migration tests that start from an older revision."""
    name = f"newsletter_test_{os.getpid()}_s{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _drop(name)
