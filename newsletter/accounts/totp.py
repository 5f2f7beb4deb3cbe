"""The second factor: TOTP (RFC 6238 via pyotp, 30 s steps, ±1 step of clock drift), a QR code
drawn as SVG on the server (segno), and ten one-time recovery codes stored as SHA-256 digests.

A code is accepted once: the step it belongs to is remembered (`last_step`) and a code of
that step or an earlier one is refused, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from datetime import datetime

import pyotp
import segno

DRIFT_STEPS = 1
RECOVERY_CODES = 10
_CODE = re.compile(r"^\d{6}$")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """An inline SVG (no script, no external reference) of the QR code for `uri`."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out,
        kind="svg",
        scale=5,
        border=2,
        xmldecl=False,
        svgns=True,
        desc=None,
        title="QR code for your authenticator app",
        dark="#111111",
        light="#ffffff",
        svgclass="qr",
        lineclass=None,
    )
    return out.getvalue().decode("utf-8")


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to (within the drift), or None. Steps ≤ `last_step` are
    refused (already used)."""
    code = code.strip().replace(" ", "")
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like `k7pqz-2xmfa-9hwdc` (about 74 bits each)."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(3))
        for _ in range(RECOVERY_CODES)
    ]


def recovery_digest(code: str) -> str:
    normal = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len(code.strip().replace("-", "").replace(" ", "")) == 15
