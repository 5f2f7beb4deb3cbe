"""Email addresses: one normal form, so that case and whitespace variants are one subscriber.

`normalize_email` is the identity key (strip, Unicode NFC, lowercase the whole address).
`validate_email` checks the syntax with email-validator (no DNS) and returns the same key.
Invariant: `normalize_email(validate_email(x)) == validate_email(x)`.

Speed: email-validator costs ~30-50 µs per address. Most real addresses are plain ASCII
(`name@domain.tld`); those take a regular-expression path that accepts only addresses
email-validator accepts unchanged (tests/audiences/test_emails.py checks this against
email-validator itself); everything else goes through email-validator.
"""

from __future__ import annotations

import re
import unicodedata

import email_validator

MAX_EMAIL_LENGTH = 254

_ATEXT = r"a-z0-9_!#$%&'*+\-/=?^`{|}~"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST = re.compile(
    rf"(?P<local>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(?P<domain>(?:{_LABEL}\.)+[a-z]{{2,63}})"
)
# email-validator refuses these top-level names (its SPECIAL_USE_DOMAIN_NAMES); they always
# take the slow path so its message is the one the user sees.
_SPECIAL_TLDS = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def normalize_email(raw: str) -> str:
    """Strip, NFC-normalise and lowercase the whole address (the subscriber identity key)."""
    return unicodedata.normalize("NFC", raw.strip()).lower()


def validate_email(raw: str) -> str:
    """Return the normalised address, or raise `ValueError` with a short human reason."""
    address = normalize_email(raw)
    if not address:
        raise ValueError("empty address")
    if len(address) > MAX_EMAIL_LENGTH:
        raise ValueError(f"address longer than {MAX_EMAIL_LENGTH} characters")
    if "@" not in address:
        raise ValueError("missing @")
    if "." not in address.rpartition("@")[2]:
        raise ValueError("domain has no dot")
    if _fast_ok(address):
        return address
    try:
        info = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(str(error)) from None
    # email-validator may map the domain further (UTS-46: full-width letters, IDNA);
    # re-normalise so the result is a fixed point of normalize_email.
    return normalize_email(info.normalized)


def _fast_ok(address: str) -> bool:
    """True for plain ASCII addresses that email-validator accepts unchanged."""
    if not address.isascii():
        return False
    match = _FAST.fullmatch(address)
    if match is None:
        return False
    local, domain = match.group("local"), match.group("domain")
    return (
        len(local) <= 64
        and len(domain) <= 253
        and "--" not in domain  # punycode / reserved R-LDH labels: let email-validator decide
        and domain.rpartition(".")[2] not in _SPECIAL_TLDS
    )
