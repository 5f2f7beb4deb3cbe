"""Shared helpers for the web and tracking tests: a signing key, events, seeded deliveries."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.subscribers import email_hash
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries
from newsletter.storage.tables import subscribers, suppressions
from newsletter.tokens import sign

SECRET = "test-secret-key-0123456789abcdefghijklmnop"  # tests/conftest.py sets this one
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())


class Signer:
    """A fixed P-256 key (as SendGrid signs): `sign(ts, body)` → base64 DER signature."""

    def __init__(self, scalar: int = 0xC0FFEE_1234_5678) -> None:
        self.key = ec.derive_private_key(scalar, ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def sign(self, timestamp: str, body: bytes) -> str:
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def headers(self, body: bytes, timestamp: int | str = NOW_TS) -> dict[str, str]:
        ts = str(timestamp)
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": self.sign(ts, body),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }


def event(kind: str, email: str, ts: int = NOW_TS - 60, send_id: str | None = None,
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    ev: dict[str, Any] = {
        "email": email,
        "event": kind,
        "timestamp": ts,
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": extra.pop("sg_message_id", "MSGID123.filterdrecv-1-0.0"),
        "smtp-id": "<MSGID123@ismtpd.sendgrid.net>",
        "category": ["newsletter"],
    }
    if send_id:
        ev["send_id"] = send_id
    ev.update(extra)
    return ev


def body_of(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events), separators=(",", ":")).encode() + b"\r\n"


@dataclass(frozen=True)
class Seeded:
    subscriber_id: int
    campaign_id: int
    delivery_id: int
    send_id: str
    token_id: str
    token: str
    email: str


def _campaign(conn) -> int:  # type: ignore[no-untyped-def]
    found = conn.scalar(select(campaigns.c.id).limit(1))
    if found is not None:
        return found
    return conn.execute(
        campaigns.insert()
        .values(
            key="newsletter-2026-11", status="sending", template="article", segment="everyone",
            subject="News", preheader="News", sender_name="Clinic", sender_email="n@c.example",
            reply_to="r@c.example", articles_json="[]", html="<p>x</p>", text="x",
            batch_size=100, unknown_policy="events", late_send_window_s=0,
            to_send=0, created_at=NOW,
        )
        .returning(campaigns.c.id)
    ).scalar_one()  # fmt: skip


def seed_delivery(db: Database, email: str, *, status: str = "active") -> Seeded:
    """A subscriber (active by default), the one test campaign, and a delivery with the
    public ids the engine computes for it."""
    with db.write() as conn:
        subscriber_id = conn.execute(
            subscribers.insert()
            .values(email=email, email_hash=email_hash(SECRET, email), status=status,
                    signed_up_at=NOW, created_at=NOW, updated_at=NOW)
            .returning(subscribers.c.id)
        ).scalar_one()  # fmt: skip
        campaign_id = _campaign(conn)
        delivery_id = conn.execute(
            deliveries.insert()
            .values(campaign_id=campaign_id, subscriber_id=subscriber_id, batch_seq=0,
                    status="accepted")
            .returning(deliveries.c.id)
        ).scalar_one()  # fmt: skip
    ids = DeliveryIds({"a": SECRET})
    [send_id], [token_id] = ids.send_ids([delivery_id]), ids.link_ids([delivery_id])
    token = sign("unsubscribe", token_id, key=SECRET)
    return Seeded(subscriber_id, campaign_id, delivery_id, send_id, token_id, token, email)


def suppression_of(db: Database, email: str) -> str | None:
    with db.read() as conn:
        return conn.scalar(
            select(suppressions.c.reason).where(
                suppressions.c.email_hash == email_hash(SECRET, email)
            )
        )


def subscriber_status(db: Database, email: str) -> str | None:
    with db.read() as conn:
        return conn.scalar(select(subscribers.c.status).where(subscribers.c.email == email))


def delivery_row(db: Database, delivery_id: int) -> Any:
    with db.read() as conn:
        return conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
