"""Fixtures for the web app: a migrated SQLite file, settings with a webhook key, a client."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers `httpx2` for its test client; httpx (a project dependency) works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from newsletter.bootstrap import open_database
from newsletter.config import load_settings
from newsletter.storage.database import Database
from newsletter.web.app import create_app
from tests.web.support import NOW_TS, Signer


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def make_app(tmp_path: Path, signer: Signer) -> Iterator[Callable[..., tuple]]:
    """`make_app(**settings)` → (app, db); the clock is fixed at NOW_TS unless `clock=` given."""
    opened = ExitStack()

    def make(clock: Callable[[], float] | None = lambda: NOW_TS, **overrides):  # type: ignore[no-untyped-def]
        overrides.setdefault("sendgrid_webhook_public_key", signer.public_key)
        overrides.setdefault("database_url", f"sqlite:///{tmp_path / 'app.db'}")
        settings = load_settings(**overrides)
        db = opened.enter_context(open_database(settings))
        return create_app(settings, db, clock=clock), db

    with opened:
        yield make


@pytest.fixture
def app_db(make_app):  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def db(app_db) -> Database:  # type: ignore[no-untyped-def]
    return app_db[1]


@pytest.fixture
def client(app_db) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app_db[0], raise_server_exceptions=False) as test_client:
        yield test_client
