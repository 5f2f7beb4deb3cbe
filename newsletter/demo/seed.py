"""What the demo puts in its database, through the same services the CLI and the admin use:
the sample audience, the seed article, a campaign draft written by the marketer, and the
two accounts (an admin and a marketer) with fresh random passwords.

Safe to run again on the same database: the import is idempotent, the article and a draft
that was not sent yet are reused, and existing accounts get new passwords (and are unlocked
and enabled), so the credentials printed are always the ones that work.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsletter.accounts.roles import Action
from newsletter.config import Settings
from newsletter.demo.workspace import DemoState
from newsletter.errors import NotFound
from newsletter.storage.database import Database

ADMIN_EMAIL = "admin@demo.example"
MARKETER_EMAIL = "marketer@demo.example"
DEMO_LIST = "newsletter"
DEMO_SEGMENT = "everyone"
ACTOR = "staff:demo"
CONSENT = "Sample data shipped with the newsletter demo (fictional people)."


@dataclass
class Account:
    email: str
    role: str
    password: str


@dataclass
class Seeded:
    """What the demo set up, for the banner."""

    accounts: list[Account]
    campaign_id: int
    campaign_subject: str
    article_title: str
    audience: int
    notes: list[str] = field(default_factory=list)


def _local_or_bundled(local: Path, bundled: Path) -> Path:
    """The checkout's copy when run from one (edits show), else the packaged file."""
    return local if local.is_file() else bundled


def _audience(db: Database, settings: Settings, folder: Path, notes: list[str]) -> None:
    from newsletter.samples import SAMPLE_AUDIENCE
    from newsletter.services import imports
    from newsletter.services.lists import create_list, list_lists
    from newsletter.services.segments import declared_attributes

    if DEMO_LIST not in {known.name for known in list_lists(db)}:
        create_list(db, DEMO_LIST)
    csv = _local_or_bundled(Path("audiences/sample-subscribers.csv"), SAMPLE_AUDIENCE)
    summary = imports.import_subscribers(
        db,
        csv,
        key=settings.key_ring,
        list_name=DEMO_LIST,
        consent_text=CONSENT,
        specs=declared_attributes(settings.audiences_dir),
        rejects_path=folder / "sample-subscribers.rejects.csv",
        staff_user="demo",
        max_bytes=settings.max_csv_bytes,
        max_row_bytes=settings.max_csv_row_bytes,
    )
    rejected = f", {summary.rejected} rejected ({summary.rejects_path})" if summary.rejected else ""
    notes.append(
        f"Imported {csv.name} into list {DEMO_LIST!r}: {summary.added} added, "
        f"{summary.unchanged + summary.updated} already there{rejected}."
    )


def _article(db: Database, settings: Settings, state: DemoState) -> int:
    from newsletter.samples import SAMPLE_ARTICLE
    from newsletter.services import article_library

    if state.article_id is not None:
        try:
            article_library.get_article(db, state.article_id)
            return state.article_id
        except NotFound:
            pass
    path = _local_or_bundled(Path("articles") / SAMPLE_ARTICLE.name, SAMPLE_ARTICLE)
    return article_library.add_file(db, path, site_url=settings.website_url, actor=ACTOR)


def _password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, ~96 bits


def _account(db: Database, email: str, role: str, notes: list[str]) -> Account:
    """Create the account, or give the existing one a new password (unlocked, enabled)."""
    from newsletter.accounts import service
    from newsletter.storage import account_store

    password = _password()
    with db.read() as conn:
        row = account_store.user_by_email(conn, email)
    if row is None:
        service.create_user(db, email, role, password, actor=ACTOR)
    else:  # an earlier run made it: a new password, and usable again
        if row.role != role:
            service.set_role(db, email, role, actor=ACTOR)
        if row.disabled_at is not None:
            service.set_disabled(db, email, False, actor=ACTOR)
        service.unlock(db, email, actor=ACTOR)
        service.reset_password(db, email, password, actor=ACTOR)
        notes.append(f"{email} existed already: it has a new password (below).")
    return Account(email, role, password)


def _second_factor(db: Database, email: str, secret: str) -> None:
    """The demo admin's authenticator key, set up in advance (a real admin scans a QR code
    at the first sign-in): `newsletter demo --code` shows the current code."""
    from newsletter.accounts.service import get_user
    from newsletter.storage import account_store, audit_log

    now = datetime.now(UTC)
    with db.write() as conn:
        row = get_user(conn, email)
        if row.totp_secret == secret:
            return
        account_store.update_user(
            conn, row.id, totp_secret=secret, totp_last_step=None, updated_at=now
        )
        audit_log.record(
            conn, actor=ACTOR, action="totp-enrolled", target=f"user:{row.email}", now=now
        )


def _campaign(db: Database, settings: Settings, state: DemoState, article_id: int) -> int:
    """The draft from an earlier run while it is still a draft; else a new one, written by
    the marketer (so that the admin may approve it)."""
    from newsletter.accounts.service import actor_for
    from newsletter.services import campaigns
    from newsletter.services.campaign_drafts import create_from_library

    if state.campaign_id is not None:
        try:
            if campaigns.report(db, state.campaign_id).status == "draft":
                return state.campaign_id
        except NotFound:
            pass
    author = actor_for(db, MARKETER_EMAIL, Action.CAMPAIGNS_EDIT)
    return create_from_library(
        db, settings, [article_id], segment=DEMO_SEGMENT, author=author,
        actor=author.audit_name,
    )  # fmt: skip


def seed(db: Database, settings: Settings, state: DemoState, folder: Path) -> Seeded:
    """Set the demo's data up (or bring it back to a usable state); updates `state`."""
    from newsletter.services import article_library, campaigns
    from newsletter.services.segments import count_segment, get_segment

    notes: list[str] = []
    _audience(db, settings, folder, notes)
    state.article_id = _article(db, settings, state)
    accounts = [
        _account(db, ADMIN_EMAIL, "admin", notes),
        _account(db, MARKETER_EMAIL, "marketer", notes),
    ]
    _second_factor(db, ADMIN_EMAIL, state.admin_totp_secret)
    previous = state.campaign_id
    state.campaign_id = _campaign(db, settings, state, state.article_id)
    if previous is not None and previous != state.campaign_id:
        notes.append(
            f"Campaign {previous} is no longer a draft: made a new draft, {state.campaign_id}."
        )
    elif previous is not None:
        notes.append(f"Campaign {previous} is still a draft: reusing it.")
    report = campaigns.report(db, state.campaign_id)
    title = article_library.get_article(db, state.article_id).title
    audience = count_segment(db, get_segment(settings.audiences_dir, DEMO_SEGMENT))
    return Seeded(accounts, state.campaign_id, report.subject, title, audience, notes)
