"""Render an article email for one person without sending or recording anything.

Used by `newsletter render`, `check`, `preview` and the demo: the email is rendered for a
sample subscriber (or a real one), placeholders filled, exactly as that person gets it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter import tokens
from newsletter.articles import Article, load_article
from newsletter.audiences.emails import normalize_email
from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.rendering.checks import Check, Expectations, run_checks
from newsletter.rendering.compose import CompiledEmail, PersonalEmail, compile_email
from newsletter.rendering.placeholders import Recipient
from newsletter.storage.audience_queries import subscriber_by_email
from newsletter.storage.database import Database

SAMPLE_FIRST_NAME = "Alex"
SAMPLE_ADDRESS = "alex.sample@example.org"


@dataclass(frozen=True)
class Preview:
    articles: tuple[Article, ...]
    compiled: CompiledEmail
    email: PersonalEmail
    to: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[str]:
        """The importer's and compiler's warnings, then every check that is not ok."""
        return [
            *self.compiled.warnings,
            *(f"{c.name}: {c.detail}" for c in self.checks if c.status != "ok"),
        ]

    def summary(self) -> dict[str, object]:
        """The `email.json` written by `newsletter render`."""
        return {
            "subject": self.email.subject,
            "preheader": self.email.preheader,
            "from": self.email.sender,
            "reply_to": self.email.reply_to,
            "to": self.to,
            "template": self.compiled.template,
            "campaign": self.compiled.campaign_key,
            "list_unsubscribe": self.email.list_unsubscribe,
            "links": [
                {"key": link.id, "url": link.url, "kind": link.kind, "label": link.label}
                for link in self.compiled.links
            ],
            "html_bytes": len(self.email.html.encode()),
            "text_bytes": len(self.email.text.encode()),
            "warnings": self.warnings,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks
            ],
        }


def sample_recipient(settings: Settings, first_name: str | None = SAMPLE_FIRST_NAME) -> Recipient:
    """A previewed email's recipient: every link carries a token of purpose `preview`, which
    leads to a page saying it is a preview (never onward, never to anyone's subscription)."""
    key_id, key = tokens.current_key(settings.signing_keys)
    preview = tokens.sign("preview", tokens.new_random_id(), key=key, key_id=key_id)
    return Recipient(
        first_name=first_name,
        unsubscribe_token=preview,
        recipient_token=preview,
        preferences_token=preview,
    )


def recipient_for(db: Database, settings: Settings, email: str) -> tuple[Recipient, str]:
    """A real subscriber as the preview's recipient: their first name, fresh inert tokens."""
    address = normalize_email(email)
    with db.read() as conn:
        row = subscriber_by_email(conn, address)
    if row is None:
        raise NotFound(
            f"no subscriber {address}",
            where="--subscriber",
            fix="check the address (`newsletter subscribers show EMAIL`)",
        )
    return sample_recipient(settings, first_name=row.first_name), row.email


# Tokens an unsubscribe link in a preview or test may carry.
UNSUBSCRIBE_PURPOSES: tuple[tokens.Purpose, ...] = ("unsubscribe", "test", "preview")


def expectations(settings: Settings) -> Expectations:
    keys = settings.signing_keys
    return Expectations(
        public_url=settings.public_url,
        postal_address=settings.postal_address,
        unsubscribe_valid=lambda token: any(
            tokens.verify(purpose, token, keys=keys) is not None for purpose in UNSUBSCRIBE_PURPOSES
        ),
    )


def preview_articles(
    paths: Sequence[Path],
    settings: Settings,
    *,
    template: str = "article",
    base_url: str | None = None,
    campaign_key: str | None = None,
    subject: str | None = None,
    recipient: Recipient | None = None,
    to: str = SAMPLE_ADDRESS,
    today: dt.date | None = None,
) -> Preview:
    limits = settings.article_limits
    articles = tuple(
        load_article(path, base_url=base_url, site_url=settings.website_url, limits=limits)
        for path in paths
    )
    compiled = compile_email(
        articles,
        settings,
        template=template,
        campaign_key=campaign_key,
        subject=subject,
        today=today or dt.date.today(),
    )
    email = compiled.personalize(recipient or sample_recipient(settings))
    checks = tuple(run_checks(email, expectations(settings)))
    return Preview(articles, compiled, email, to, checks)
