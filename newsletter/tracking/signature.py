"""Verification of SendGrid's signed Event Webhook (docs/sendgrid.md §7). Pure functions.

The signature is ECDSA P-256 / SHA-256 over `timestamp + raw_body`, where `raw_body` are the
bytes exactly as received (the trailing CR LF included). The public key is base64 DER
SubjectPublicKeyInfo without PEM armour; the signature is base64 DER.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
DEFAULT_MAX_FUTURE_S = 300
DEFAULT_MAX_AGE_S = 25 * 3600

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InvalidWebhookKey",
    "is_fresh",
    "load_public_key",
    "verify_signature",
]


class InvalidWebhookKey(ValueError):
    """The configured verification key is not a base64 DER P-256 public key: a setting to fix,
    never a reason to call a post's signature bad."""


@lru_cache(maxsize=4)
def load_public_key(public_key_b64: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key SendGrid shows (base64 DER SubjectPublicKeyInfo), or InvalidWebhookKey
    saying what is wrong with it."""
    try:
        der = base64.b64decode(public_key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookKey(
            "it is not base64 (paste the key exactly as SendGrid shows it)"
        ) from None
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidWebhookKey("it is not a DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidWebhookKey("it is not a P-256 (prime256v1) ECDSA key")
    return key


def verify_signature(
    public_key: str | ec.EllipticCurvePublicKey, signature_b64: str, timestamp: str, raw_body: bytes
) -> bool:
    """True only if `signature_b64` is a valid signature of `timestamp + raw_body` under the
    P-256 `public_key`. A bad signature in any form (missing, not base64, not DER, not
    matching, a non-ASCII timestamp) gives False; a bad key raises InvalidWebhookKey, since
    that is the operator's to fix (settings validate it at load)."""
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    if not isinstance(signature_b64, str) or not isinstance(timestamp, str):
        return False
    if not isinstance(raw_body, bytes):
        return False
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        signed = timestamp.encode("ascii") + raw_body
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    try:
        key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:  # also what cryptography raises for a malformed DER signature
        return False
    return True


def is_fresh(
    timestamp: str,
    now: float,
    max_future: float = DEFAULT_MAX_FUTURE_S,
    max_age: float = DEFAULT_MAX_AGE_S,
) -> bool:
    """True if the decimal unix-seconds `timestamp` is at most `max_future` seconds ahead of
    `now` and at most `max_age` seconds behind it. Non-integers are never fresh."""
    try:
        text = timestamp.strip()
        if not text.isdigit() or not text.isascii():
            return False
        ts = int(text)
    except (AttributeError, ValueError):
        return False
    return now - max_age <= ts <= now + max_future
