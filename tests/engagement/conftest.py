"""The web app on SQLite and PostgreSQL with a real campaign (the seed article, its links in
`campaign_links`), recipients with delivery times, a clock the test moves, and helpers to
make the tokens the engine puts into emails."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from newsletter.config import load_settings
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.subscribers import email_hash
from newsletter.engagement.stats import campaign_stats
from newsletter.services.campaigns import create_campaign
from newsletter.storage import link_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries
from newsletter.storage.tables import subscribers
from newsletter.tokens import sign
from newsletter.web.app import create_app
from tests.audience_db import db_url  # noqa: F401
from tests.cli.conftest import cli  # noqa: F401
from tests.seed import REPO, SEED_TEXT

SECRET = "test-secret-key-0123456789abcdefghijklmnop"  # tests/conftest.py sets this one
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
API_KEY = "conversions-key-0123456789"
CALENDLY_KEY = "calendly-signing-key-0123456789"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> float:
        return self.now.timestamp()

    def at(self, seconds: float) -> None:
        self.now = START + timedelta(seconds=seconds)


@dataclass
class Tracked:
    db: Database
    client: Any
    app: Any
    clock: Clock
    campaign_id: int
    links: dict[str, Any]  # link key → StoredLink
    deliveries: list[int] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def key_of(self, kind: str) -> str:
        return next(k for k, link in self.links.items() if link.kind == kind)

    def token(self, delivery_id: int, purpose: str = "click") -> str:
        [link_id] = DeliveryIds({"a": SECRET}).link_ids([delivery_id])
        return sign(purpose, link_id, key=SECRET)  # type: ignore[arg-type]

    def test_token(self, campaign_id: int | None = None) -> str:
        test_id = DeliveryIds({"a": SECRET}).test_id(campaign_id or self.campaign_id)
        return sign("test", test_id, key=SECRET)

    def click(
        self,
        delivery_id: int,
        key: str,
        *,
        at: float,
        ua: str = CHROME,
        method: str = "GET",
        **headers: str,
    ) -> Any:
        self.clock.at(at)
        return self.client.request(
            method,
            f"/r/{key}/{self.token(delivery_id)}",
            headers={"user-agent": ua, **headers},
            follow_redirects=False,
        )

    def stats(self) -> dict[str, Any]:
        assert self.app.state.clicks.flush()
        return campaign_stats(self.db, self.campaign_id, open_tracking=True)


def add_recipients(db: Database, campaign_id: int, count: int, *, prefix: str = "r") -> list[int]:
    """Subscribers with deliveries accepted at START (no delivery event yet)."""
    emails = [f"{prefix}{i:04d}@example.org" for i in range(count)]
    with db.write() as conn:
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": e,
                    "email_hash": email_hash(SECRET, e),
                    "status": "active",
                    "signed_up_at": START,
                    "created_at": START,
                    "updated_at": START,
                }
                for e in emails
            ],
        )
        ids = dict(
            conn.execute(
                select(subscribers.c.email, subscribers.c.id).where(subscribers.c.email.in_(emails))
            ).all()
        )
        conn.execute(
            insert(deliveries),
            [
                {
                    "campaign_id": campaign_id,
                    "subscriber_id": ids[e],
                    "batch_seq": 0,
                    "status": "accepted",
                    "accepted_at": START,
                }
                for e in emails
            ],
        )
        found = conn.execute(
            select(deliveries.c.id)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(subscribers.c.email.in_(emails))
            .order_by(subscribers.c.email)
        )
        return list(found.scalars())


def new_sent_campaign(db: Database, settings: Any, key: str = "newsletter-2026-12") -> int:
    campaign_id = create_campaign(
        db,
        settings,
        articles=[SEED_TEXT],
        segment="everyone",
        campaign_key=key,
        now=START - timedelta(hours=1),
    )
    with db.write() as conn:
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(status="sending", started_at=START)
        )
    return campaign_id


@pytest.fixture
def tracked(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracked]:  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_AUDIENCES_DIR", str(REPO / "audiences"))
    settings = load_settings(
        database_url=db_url,
        public_url="https://news.clinic.example",
        conversions_api_key=API_KEY,
        calendly_signing_key=CALENDLY_KEY,
        open_tracking=True,
        topic_labels="research-news=Research news; events=Events and talks",
    )
    db = Database.from_url(db_url)
    campaign_id = new_sent_campaign(db, settings)
    with db.read() as conn:
        links = {link.key: link for link in link_store.links_of(conn, campaign_id)}
    clock = Clock()
    app = create_app(settings, db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        tracked = Tracked(db, client, app, clock, campaign_id, links)
        tracked.deliveries = add_recipients(db, campaign_id, 5)
        yield tracked
    db.close()
