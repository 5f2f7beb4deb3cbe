"""Fixtures for the admin: the web app over a migrated database (SQLite, or both databases
where a test asks for `db_url`), a settable clock, and a test client."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from newsletter.config import load_settings
from newsletter.storage.database import Database
from newsletter.web.app import create_app
from tests.admin.support import Clock
from tests.audience_db import db, db_url  # noqa: F401
from tests.seed import REPO


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(db_url: str, clock: Clock) -> Iterator[Callable[..., tuple]]:  # noqa: F811
    """`make_client(**settings)` → (TestClient, Database, app)."""
    opened: list = []

    def make(**overrides):  # type: ignore[no-untyped-def]
        overrides.setdefault("database_url", db_url)
        overrides.setdefault("audiences_dir", REPO / "audiences")
        settings = load_settings(**overrides)
        database = Database.from_url(settings.database_url)
        app = create_app(settings, database, clock=clock, process_on_startup=False)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, database))
        return client, database, app

    yield make
    for client, database in opened:
        client.__exit__(None, None, None)
        database.close()


@pytest.fixture
def web(make_client):  # type: ignore[no-untyped-def]
    """(client, db) with default settings."""
    client, database, _ = make_client()
    return client, database
