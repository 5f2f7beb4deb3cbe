"""Shared pieces of Mail Send validation: limits, messages, small field checks (pure)."""

from __future__ import annotations

import re
from typing import Any

Error = tuple[str | None, str]

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_SEND_AHEAD_S = 72 * 3600

EMAIL_RE = re.compile(
    r"^[^@\s\"(),:;<>\[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
HEADER_KEY_RE = re.compile(r"^[!-9;-~]+$")  # printable ASCII, no space, no colon
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "Content-Type",
        "Content-Transfer-Encoding", "To", "From", "Subject", "Reply-To", "CC", "BCC",
    )
)  # fmt: skip
SETTINGS_BOOL_KEYS = ("enable", "enable_text")

M_INVALID_ADDRESS = "Does not contain a valid address."  # (obs)
M_TO_REQUIRED = (  # (obs)
    "The to array is required for all personalization objects, and must have at least one "
    "email object with a valid email address."
)
M_PERSONALIZATIONS_REQUIRED = (
    "The personalizations field is required and must have at least one personalization."
)
M_FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires "
    "the email parameter, but may also contain a name parameter."
)
M_FROM_INVALID = "The from email does not contain a valid address."  # (obs)
M_SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with "
    "a subject defined or if every personalization has a subject defined."
)
M_CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must "
    "be at least one defined content block."
)
M_TOO_MANY_PERSONALIZATIONS = "You may not have more than 1000 personalizations per API request."
M_SUBJECT_STRING = "The subject must be a string at least one character in length."
M_SUBS_TYPE = "Substitutions must be an object of string values."
M_TOO_MANY_RECIPIENTS = "The total number of recipients (to, cc, bcc) must be at most 1000."
M_DUPLICATE = "We found the first duplicate instance of"  # (obs)
M_UNIQUE = (  # (obs)
    "Each email address in the personalization block should be unique between to, cc, and bcc. "
)
M_CONTENT_VALUE = "The content value must be a string at least one character in length."  # (obs)
M_CONTENT_ORDER = (
    "The text/plain content type must be first, followed by text/html, then any other "
    "content (RFC 1341 §7.2)."
)


def is_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 320 and EMAIL_RE.match(value) is not None


def is_sandbox(body: Any) -> bool:
    try:
        return body["mail_settings"]["sandbox_mode"]["enable"] is True
    except (KeyError, TypeError):
        return False


def count_recipients(body: Any) -> int:
    """to+cc+bcc over all personalizations; tolerant of malformed input (counts what is there)."""
    total = 0
    pers = body.get("personalizations") if isinstance(body, dict) else None
    if not isinstance(pers, list):
        return 0
    for p in pers:
        if isinstance(p, dict):
            for kind in ("to", "cc", "bcc"):
                lst = p.get(kind)
                if isinstance(lst, list):
                    total += len(lst)
    return total


def utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


_STR_ONLY = frozenset((str,))


def only_strings(values: Any) -> bool:
    """All values are exactly `str` (C-level: no Python call per item)."""
    return set(map(type, values)) <= _STR_ONLY


def strings_size(d: dict) -> int:
    """UTF-8 bytes of all keys and string values."""
    values = (
        d.values() if only_strings(d.values()) else [v for v in d.values() if isinstance(v, str)]
    )
    return utf8_len("".join(d)) + utf8_len("".join(values))


def within(d: dict, max_bytes: int) -> bool:
    """`strings_size(d) <= max_bytes` for a dict of strings, usually without encoding: UTF-8
    needs at most 4 bytes per character."""
    chars = len("".join(d)) + len("".join(d.values()))
    return chars * 4 <= max_bytes or strings_size(d) <= max_bytes


# Valid, non-reserved header names seen before, pairwise distinct ignoring case, so a request
# whose names are all in here has no (case-insensitive) duplicate either.
_GOOD_HEADER_KEYS: set[str] = set()
_GOOD_HEADER_LOWER: set[str] = set()


def headers_fast_ok(value: Any) -> bool:
    return (
        type(value) is dict and _GOOD_HEADER_KEYS.issuperset(value) and only_strings(value.values())
    )


def check_headers(value: Any, field: str, errors: list[Error]) -> None:
    if not isinstance(value, dict):
        errors.append((field, "Headers must be an object of header names to string values."))
        return
    if headers_fast_ok(value):
        return
    seen: set[str] = set()
    for key, val in value.items():
        low = key.lower()
        if not HEADER_KEY_RE.match(key):
            errors.append((field, f"Invalid header name {key!r}: ASCII without spaces."))
        elif low in RESERVED_HEADERS:
            errors.append((field, f"The header {key!r} is reserved and cannot be set."))
        elif low in seen:
            errors.append((field, f"Duplicate header {key!r}."))
        elif len(_GOOD_HEADER_KEYS) < 1024 and low not in _GOOD_HEADER_LOWER:
            _GOOD_HEADER_KEYS.add(key)
            _GOOD_HEADER_LOWER.add(low)
        if not isinstance(val, str):
            errors.append((field, f"The value of header {key!r} must be a string."))
        seen.add(low)


def check_custom_args(value: Any, field: str, errors: list[Error]) -> bool:
    if not isinstance(value, dict) or not value:
        errors.append((field, "custom_args must be a non-empty object of string values."))
        return False
    if not only_strings(value.values()):
        errors.append((field, "custom_args values must be strings."))
        return False
    return True


def check_send_at(value: Any, field: str, now: float, errors: list[Error]) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append((field, "send_at must be an integer unix timestamp in seconds."))
    elif value > now + MAX_SEND_AHEAD_S:
        errors.append((field, "send_at cannot be scheduled more than 72 hours in advance."))


def check_address_obj(value: Any, field: str, errors: list[Error], message: str) -> None:
    email = value.get("email") if isinstance(value, dict) else None
    if not isinstance(email, str) or not is_email(email) or not email.isascii():
        errors.append((f"{field}.email", message))
