"""The delivery protocol every backend implements.

Contract: `send(batch)` makes at most ONE attempt to hand the whole batch to the provider and
reports what happened as a `ProviderResult` — it never retries, never raises for provider or
network failures, and never opens a database transaction. Deciding what an answer means
(accepted, retry, split, pause, unknown) is `domain.sending.classify`'s job, so every backend
gets the same exactly-once guarantees from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from newsletter.domain.sending import ProviderResult


@dataclass(frozen=True, slots=True)
class OutgoingRecipient:
    email: str
    substitutions: dict[str, str]  # placeholder tag → value (first name, personal tokens)
    list_unsubscribe: str  # the one-click https URL for this recipient ("" for transactional)
    send_id: str  # opaque random id: the only metadata the provider sees


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """One provider request: the content once, the recipients with their own values."""

    subject: str
    html: str  # with placeholder tags
    text: str  # with placeholder tags
    sender_name: str
    sender_email: str
    reply_to: str
    list_id: str  # "" for transactional email (not sent to a list)
    recipients: tuple[OutgoingRecipient, ...]
    category: str = "newsletter"  # the provider's stats bucket: newsletter | confirmation


class DeliveryBackend(Protocol):
    name: str
    max_batch: int  # the largest batch one call may carry

    def send(self, batch: OutgoingBatch) -> ProviderResult: ...

    def request_test_event(self) -> bool:
        """Ask the provider to post a test event to our webhook (proof the feed flows, used
        before re-sending an unknown batch on a quiet system); False if unsupported."""
        ...
