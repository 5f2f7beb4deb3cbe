"""What a campaign's stored email must pass: the pre-send checklist, run before it is sent
or scheduled, and reported as warnings as soon as it is created (CLI and web admin alike),
so nobody learns at send time that the subject is too long."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.errors import ValidationError
from newsletter.rendering.checks import Check, run_checks
from newsletter.services.campaigns import compiled_email
from newsletter.services.previews import expectations, sample_recipient
from newsletter.storage import campaign_store
from newsletter.storage.database import Database

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CampaignWarning:
    name: str
    detail: str
    blocks_sending: bool  # a failed checklist item: send and schedule refuse until it is fixed

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}" + (" (blocks sending)" if self.blocks_sending else "")


def checklist(row: Any, settings: Settings) -> list[Check]:
    """The pre-send checklist on the campaign's email, as a sample recipient gets it."""
    email = compiled_email(row, settings).personalize(sample_recipient(settings))
    return run_checks(email, expectations(settings))


def preflight(row: Any, settings: Settings) -> None:
    """A campaign whose email fails the pre-send checklist cannot be sent."""
    failed = [c for c in checklist(row, settings) if c.status == "fail"]
    if failed:
        raise ValidationError(
            "the email fails the pre-send checklist: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed),
            where=f"campaign {row.id}",
            fix="fix the article, template or settings, then create the campaign again",
        )


def campaign_warnings(row: Any, settings: Settings) -> list[CampaignWarning]:
    """Everything worth a person's attention before sending: the article's own warnings,
    a public URL that is not https, and every checklist item that is not ok (the failed ones
    block sending)."""
    found = [
        CampaignWarning("Article", text, False)
        for article in json.loads(row.articles_json)
        for text in article.get("warnings") or ()
    ]
    public = urlsplit(settings.public_url)
    if public.scheme != "https" and public.hostname not in _LOCAL_HOSTS:
        found.append(
            CampaignWarning(
                "Public URL",
                f"NEWSLETTER_PUBLIC_URL is {settings.public_url}, not https: unsubscribe "
                "links must be https before sending",
                True,
            )
        )
    found += [
        CampaignWarning(check.name, check.detail, check.status == "fail")
        for check in checklist(row, settings)
        if check.status != "ok"
    ]
    return found


def creation_warnings(db: Database, settings: Settings, campaign_id: int) -> list[CampaignWarning]:
    """`campaign_warnings` of a stored campaign: what `campaign create` and the web admin
    show right after creating it."""
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    return campaign_warnings(row, settings)
