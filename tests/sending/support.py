"""Helpers for the sending suites: an audience, a campaign, a context, and invariants."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from newsletter.config import Settings
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.domain.subscribers import email_hash
from newsletter.emulator import iter_recipients
from newsletter.services.campaign_schedule import start_now
from newsletter.services.campaigns import create_campaign
from newsletter.services.send_batch import SendContext
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches
from newsletter.storage.tables import subscriber_tags, subscribers, tags
from tests.seed import SEED_TEXT

KEY = "SG.local-dev-key"


def add_audience(
    db: Database,
    settings: Settings,
    domain: str,
    count: int,
    first_name: str | None = "Pat",
    tag: str | None = None,
) -> list[str]:
    """`count` active subscribers at `domain`, optionally all carrying `tag`."""
    now = datetime.now(UTC)
    secret = settings.signing_keys["a"]
    emails = [f"user{i:05d}@{domain}" for i in range(count)]
    with db.write() as conn:
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": e,
                    "email_hash": email_hash(secret, e),
                    "first_name": first_name,
                    "status": "active",
                    "signed_up_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for e in emails
            ],
        )
        if tag:
            tag_id = conn.execute(insert(tags).values(name=tag)).inserted_primary_key[0]
            ids = conn.scalars(select(subscribers.c.id).where(subscribers.c.email.in_(emails)))
            conn.execute(
                insert(subscriber_tags), [{"subscriber_id": i, "tag_id": tag_id} for i in ids]
            )
    return emails


def new_campaign(db: Database, settings: Settings, segment: str = "everyone") -> int:
    campaign_id = create_campaign(db, settings, articles=[SEED_TEXT], segment=segment)
    start_now(db, settings, campaign_id, now=datetime.now(UTC))
    return campaign_id


def context(db: Database, settings: Settings, base_url: str, timeout: float = 5.0) -> SendContext:
    return SendContext(
        db=db,
        settings=settings,
        backend=SendGridBackend(KEY, base_url=base_url, timeout=timeout),
        clock=lambda: datetime.now(UTC),
    )


@dataclass
class Ledger:
    statuses: Counter
    campaign_status: str
    open_batches: int


def ledger(db: Database, campaign_id: int) -> Ledger:
    with db.read() as conn:
        statuses = Counter(
            conn.scalars(select(deliveries.c.status).where(deliveries.c.campaign_id == campaign_id))
        )
        status = conn.scalar(select(campaigns.c.status).where(campaigns.c.id == campaign_id))
        open_batches = len(
            conn.scalars(
                select(send_batches.c.id).where(
                    send_batches.c.campaign_id == campaign_id,
                    send_batches.c.status.in_(("pending", "in_flight", "retry_wait", "unknown")),
                )
            ).all()
        )
    return Ledger(statuses, status, open_batches)


def statuses_by_email(db: Database, campaign_id: int) -> dict[str, set[str]]:
    with db.read() as conn:
        rows = conn.execute(
            select(deliveries.c.status, subscribers.c.email)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.campaign_id == campaign_id)
        ).all()
    found: dict[str, set[str]] = {}
    for status, email in rows:
        found.setdefault(status, set()).add(email)
    return found


def accepted_in_log(log_path: Path, domain: str) -> Counter:
    """How many times the emulator accepted each address of this domain (ground truth)."""
    return Counter(r["email"] for r in iter_recipients(log_path) if r["email"].endswith(domain))


def assert_invariants(
    db: Database, campaign_id: int, log_path: Path, domain: str, audience: list[str]
) -> Ledger:
    """I1 no duplicate, I2 no loss, I3 accounting, I4 termination."""
    state = ledger(db, campaign_id)
    sent = accepted_in_log(log_path, domain)
    duplicates = {e: n for e, n in sent.items() if n > 1}
    assert not duplicates, f"I1: duplicates {list(duplicates)[:5]}"
    assert state.open_batches == 0, "I4: a batch is still open"
    assert state.campaign_status in {"sent", "sent_with_errors", "needs_review", "cancelled"}
    assert sum(state.statuses.values()) == len(audience), "I2: ledger size"
    assert state.statuses.get("pending", 0) == 0, "I2: pending recipients remain"
    assert state.statuses.get("accepted", 0) == len(sent), "I3: accepted ≠ emulator log"
    return state
