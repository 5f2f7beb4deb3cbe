"""Fixtures for the campaign pages (preview, test send, schedule, progress, stats, dashboard):
an app on a SQLite copy, people of each role signed in, the seed article as a campaign, and
a few subscribers with names that try to break out of HTML."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from newsletter.accounts.roles import Role
from newsletter.accounts.service import Actor
from newsletter.domain.approval import Step
from newsletter.services import approval, article_library, campaign_drafts
from newsletter.storage import account_store
from newsletter.storage.database import Database
from tests.admin.support import START, add_user, enrol, sign_in
from tests.audience_db import _sqlite_template
from tests.seed import SEED_FORMATS
from tests.sending.support import add_audience

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def db_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "pages.db"
    shutil.copyfile(_sqlite_template(), path)
    return f"sqlite:///{path}"


@dataclass
class Site:
    make_client: Any
    clock: Any
    db: Database
    app: Any
    client: Any
    settings: Any

    def person(self, role: str) -> Any:
        """A new client signed in as `role` (accounts made on first use)."""
        client, _, _ = self.make_client(**self.overrides)
        email = f"{role}@clinic.example"
        with self.db.read() as conn:
            exists = account_store.user_by_email(conn, email) is not None
        if not exists:
            add_user(self.db, email, role)
        assert sign_in(client, email).status_code == 303
        if role == "admin":
            enrol(client, self.clock)
        return client

    overrides: dict[str, Any]


def new_campaign(db: Database, settings: Any, *, subject: str | None = None) -> int:
    article_id = article_library.add_file(
        db, SEED_FORMATS["markdown"], site_url=settings.website_url, actor="t", now=START
    )
    author = Actor(None, "marketer@clinic.example", Role.MARKETER)
    return campaign_drafts.create_from_library(
        db, settings, [article_id], segment="everyone", subject=subject, author=author, now=START
    )


def approve(db: Database, settings: Any, campaign_id: int) -> None:
    """Submitted by the marketer, approved by an admin (accounts made here if missing)."""
    from tests.admin.support import add_user as add

    for email, role in (("marketer@clinic.example", "marketer"), ("boss@clinic.example", "admin")):
        with contextlib.suppress(Exception):  # already there
            add(db, email, role)
    with db.read() as conn:
        m = account_store.user_by_email(conn, "marketer@clinic.example")
        a = account_store.user_by_email(conn, "boss@clinic.example")
    approval.take_step(db, campaign_id, Step.SUBMIT, Actor(m.id, m.email, Role.MARKETER), now=START)
    approval.take_step(db, campaign_id, Step.APPROVE, Actor(a.id, a.email, Role.ADMIN), now=START)


def make_site(make_client, clock, **overrides: Any) -> Site:  # type: ignore[no-untyped-def]
    client, db, app = make_client(**overrides)
    settings = app.state.settings
    return Site(make_client, clock, db, app, client, settings, overrides)


def add_people(db: Database, settings: Any, count: int = 3) -> list[str]:
    return add_audience(db, settings, "patients.example", count, first_name=HOSTILE)
