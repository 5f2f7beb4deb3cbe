"""Subscriber, subscription, consent and suppression vocabularies: the values the DB stores."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from enum import StrEnum

from newsletter.keys.ring import KeyRing

#: A secret key, or the whole ring (whose current key hashes; every key is looked up).
HashKey = str | KeyRing


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


#: Statuses an import or a staff edit must never turn back into `active` (GDPR Art. 21, CAN-SPAM).
STICKY_STATUSES = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class ConsentEvent(StrEnum):
    CONSENT_GIVEN = "consent_given"
    DOUBLE_OPTIN_CONFIRMED = "double_optin_confirmed"
    WITHDRAWN = "withdrawn"
    IMPORTED = "imported"
    RESUBSCRIBED = "resubscribed"


class ConsentMethod(StrEnum):
    WEB_FORM_DOUBLE_OPTIN = "web_form_double_optin"
    STAFF_ENTRY = "staff_entry"
    CSV_IMPORT = "csv_import"
    API = "api"
    PREFERENCE_PAGE = "preference_page"  # the person, on the page linked from every email


class SuppressionReason(StrEnum):
    UNSUBSCRIBE_ONE_CLICK = "unsubscribe_one_click"
    UNSUBSCRIBE_FOOTER = "unsubscribe_footer"
    STAFF = "staff"
    COMPLAINT = "complaint"
    HARD_BOUNCE = "hard_bounce"
    ERASURE = "erasure"
    SOFT_BOUNCE = "soft_bounce"  # 3 soft bounces at least 7 days apart (docs/tracking.md)


#: Suppression reason → the subscriber status it implies.
STATUS_FOR_REASON = {
    SuppressionReason.UNSUBSCRIBE_ONE_CLICK: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.UNSUBSCRIBE_FOOTER: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.STAFF: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.ERASURE: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.COMPLAINT: SubscriberStatus.COMPLAINED,
    SuppressionReason.HARD_BOUNCE: SubscriberStatus.BOUNCED,
    SuppressionReason.SOFT_BOUNCE: SubscriberStatus.BOUNCED,
}


class EngagementEvent(StrEnum):
    OPEN = "open"
    CLICK = "click"


class LinkKind(StrEnum):
    CONSULTATION = "consultation"
    ARTICLE = "article"
    OTHER = "other"


def _current(key: HashKey) -> str:
    return key.current if isinstance(key, KeyRing) else key


def email_hash(secret_key: HashKey, normalized_email: str) -> str:
    """HMAC-SHA256 of a normalised address: the only trace an erased person leaves (Recital 26)."""
    return hmac.new(
        _current(secret_key).encode(), normalized_email.encode(), hashlib.sha256
    ).hexdigest()


def lookup_hashes(secret_key: HashKey, forms: Iterable[str]) -> list[str]:
    """Every hash an address may be stored under: each of its normal forms (today's and the
    one before NFKC, `audiences.emails.address_forms`) under each key of the ring (erasure
    hashes made before a rotation cannot be re-keyed). Current key and form first."""
    secrets = secret_key.lookup_secrets() if isinstance(secret_key, KeyRing) else (secret_key,)
    found: list[str] = []
    for form in dict.fromkeys(forms):
        for secret in secrets:
            digest = email_hash(secret, form)
            if digest not in found:
                found.append(digest)
    return found


def email_hasher(secret_key: HashKey) -> Callable[[str], str]:
    """`email_hash` with the key schedule done once: for hashing a million addresses."""
    base = hmac.new(_current(secret_key).encode(), digestmod=hashlib.sha256)

    def digest(normalized_email: str) -> str:
        h = base.copy()
        h.update(normalized_email.encode())
        return h.hexdigest()

    return digest


def consent_text_version(text: str) -> str:
    """The sha256 of the exact wording shown, so each consent record names its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
