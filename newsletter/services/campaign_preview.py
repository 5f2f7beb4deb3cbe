"""A stored campaign's email as one real subscriber would get it, for the admin's preview page.

The email is the campaign's stored (approved) one, personalised with the subscriber's first
name but with fresh tokens of purpose `preview` (`previews.sample_recipient`): a link clicked
in a preview opens a page saying it is a preview, never anyone's subscription. Nothing is
written. The pre-send checklist (`campaign_checks.campaign_warnings`) is cached per stored
content, since it does not depend on the subscriber and the page is viewed often.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from newsletter.audiences.emails import normalize_email
from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.rendering.compose import PersonalEmail
from newsletter.services.campaign_checks import CampaignWarning, campaign_warnings
from newsletter.services.campaigns import compiled_email
from newsletter.services.previews import SAMPLE_ADDRESS, sample_recipient
from newsletter.storage import article_store, campaign_store
from newsletter.storage.database import Database
from newsletter.storage.tables import subscribers

SEARCH_LIMIT = 10


@dataclass(frozen=True)
class SubscriberPreview:
    campaign: Any  # the stored campaign row
    email: PersonalEmail
    to: str  # the subscriber's address, or the sample address
    subscriber_id: int | None
    checks: tuple[CampaignWarning, ...]
    article_ids: tuple[int, ...] = ()  # the library articles it was made from (fix links)

    @property
    def failed(self) -> list[CampaignWarning]:
        return [c for c in self.checks if c.blocks_sending]


class ChecklistCache:
    """`campaign_warnings` per campaign content: recomputed only when the stored email (or
    its settings) changes, so a preview view costs one personalisation, not three."""

    def __init__(self, limit: int = 512):
        self._entries: dict[tuple[int, str], tuple[CampaignWarning, ...]] = {}
        self._lock = threading.Lock()
        self.limit = limit

    def get(self, row: Any, settings: Settings) -> tuple[CampaignWarning, ...]:
        digest = hashlib.blake2b(digest_size=16)
        for part in (row.subject, row.preheader, row.sender_name, row.sender_email,
                     row.html, row.text, row.articles_json, settings.public_url,
                     settings.postal_address or ""):  # fmt: skip
            digest.update((part or "").encode() + b"\x00")
        key = (row.id, digest.hexdigest())
        with self._lock:
            found = self._entries.get(key)
        if found is None:
            found = tuple(campaign_warnings(row, settings))
            with self._lock:
                if len(self._entries) >= self.limit:
                    self._entries.clear()
                self._entries[key] = found
        return found


CHECKLISTS = ChecklistCache()


def preview_for(
    db: Database, settings: Settings, campaign_id: int, subscriber_id: int | None
) -> SubscriberPreview:
    """The campaign's email for subscriber `subscriber_id` (None: the sample recipient)."""
    with db.read() as conn:  # one read: the row, the person, the article ids
        row = campaign_store.get_campaign(conn, campaign_id)
        article_ids = tuple(article_store.campaign_article_ids(conn, campaign_id))
        person = None
        if subscriber_id is not None:
            person = conn.execute(
                select(subscribers.c.id, subscribers.c.email, subscribers.c.first_name).where(
                    subscribers.c.id == subscriber_id
                )
            ).first()
            if person is None:
                raise NotFound(
                    f"no subscriber with id {subscriber_id}",
                    where="the preview's subscriber",
                    fix="search for the subscriber by email address again",
                )
    recipient = (
        sample_recipient(settings)
        if person is None
        else sample_recipient(settings, first_name=person.first_name)
    )
    email = compiled_email(row, settings).personalize(recipient)
    return SubscriberPreview(
        campaign=row,
        email=email,
        to=SAMPLE_ADDRESS if person is None else person.email,
        subscriber_id=None if person is None else person.id,
        checks=CHECKLISTS.get(row, settings),
        article_ids=article_ids,
    )


def search_subscribers(db: Database, text: str) -> list[Any]:
    """Up to `SEARCH_LIMIT` subscribers whose address starts with `text` (a range over the
    unique email index: never a scan), in address order."""
    prefix = text.strip()
    if not prefix:
        return []
    try:
        prefix = normalize_email(prefix) if "@" in prefix else prefix.lower()
    except ValueError:
        prefix = prefix.lower()
    with db.read() as conn:
        rows = list(
            conn.execute(
                select(
                    subscribers.c.id,
                    subscribers.c.email,
                    subscribers.c.first_name,
                    subscribers.c.status,
                )
                .where(subscribers.c.email >= prefix, subscribers.c.email < prefix + "\U0010ffff")
                .order_by(subscribers.c.email)
                .limit(SEARCH_LIMIT)
            )
        )
    # The range is exact in byte order (SQLite, PostgreSQL's C collation); under a linguistic
    # collation it may hold near misses, which are dropped here.
    return [row for row in rows if row.email.startswith(prefix)]
