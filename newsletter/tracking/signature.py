"""Verification of SendGrid's signed Event Webhook (sendgrid-v3.md §8). Pure functions.

The signature is ECDSA P-256 / SHA-256 over `timestamp + raw_body`, where `raw_body` are the
bytes exactly as received (the trailing CR LF included). The public key is base64 DER
SubjectPublicKeyInfo without PEM armour; the signature is base64 DER.
"""

from __future__ import annotations

import base64

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
    "is_fresh",
    "verify_signature",
]


def verify_signature(
    public_key_b64: str, signature_b64: str, timestamp: str, raw_body: bytes
) -> bool:
    """True only if `signature_b64` is a valid signature of `timestamp + raw_body` under the
    P-256 key `public_key_b64`. Any problem (bad base64, wrong key type, missing value,
    invalid signature) gives False, never an exception."""
    try:
        key = load_der_public_key(base64.b64decode(public_key_b64, validate=True))
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            return False
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, timestamp.encode("ascii") + raw_body, ec.ECDSA(hashes.SHA256()))
        return True
    except Exception:  # any failure means "not verified"
        return False


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
