"""Email addresses: one normal form, so that case, width and encoding variants are one person.

`normalize_email` is the identity key: strip, Unicode NFKC (full-width `ｊohn` is `john`,
the ligature `ﬁ` is `fi`), lowercase the whole address, and an internationalised domain in
its Unicode form by IDNA/UTS-46 (`xn--bcher-kva.de` and `BÜCHER.de` are `bücher.de`, as
email-validator writes it). `validate_email` checks the syntax with email-validator (no DNS)
and returns the same key. Invariant: `normalize_email(validate_email(x)) == validate_email(x)`.

Before NFKC the key was NFC + lowercase (`legacy_form`): hashes of erased people made then
are looked up under both forms (`address_forms`); migration 0006 re-normalised live rows.
`lookalike_scripts` names the scripts of a local part mixing several (a Cyrillic `а` inside
a Latin name imitates another address): imports warn about those.

Speed: email-validator costs ~30-50 µs per address. Most real addresses are plain ASCII
(`name@domain.tld`); those take a regular-expression path that accepts only addresses
email-validator accepts unchanged (tests/audiences/test_emails.py checks this against
email-validator itself); everything else goes through email-validator.
"""

from __future__ import annotations

import re
import unicodedata

import email_validator
import idna

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
    """Strip, NFKC-normalise and lowercase the address, IDNA domain in Unicode form (the
    subscriber identity key)."""
    address = unicodedata.normalize("NFKC", raw.strip()).lower()
    if address.isascii() and "xn--" not in address:
        return address
    local, at, domain = address.rpartition("@")
    if not at or not domain:
        return address
    return f"{local}@{_unicode_domain(domain)}"


def _unicode_domain(domain: str) -> str:
    try:
        return idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain  # not a valid IDNA name: validation reports it


def legacy_form(raw: str) -> str:
    """The identity key before NFKC and IDNA (NFC + lowercase): hashes made then use it."""
    return unicodedata.normalize("NFC", raw.strip()).lower()


def address_forms(raw: str) -> tuple[str, ...]:
    """Every form an address may have been stored or hashed under, today's first."""
    current = normalize_email(raw)
    legacy = legacy_form(raw)
    return (current,) if legacy == current else (current, legacy)


def lookalike_scripts(address: str) -> list[str]:
    """The scripts mixed in the local part (e.g. ['CYRILLIC', 'LATIN']), or [] for one."""
    local = address.rpartition("@")[0]
    if local.isascii():
        return []
    scripts = {_script(char) for char in local if char.isalpha()}
    scripts.discard("")
    return sorted(scripts) if len(scripts) > 1 else []


def _script(char: str) -> str:
    """The script of a letter by its Unicode name's first word (LATIN, CYRILLIC, GREEK…)."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else ""


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
