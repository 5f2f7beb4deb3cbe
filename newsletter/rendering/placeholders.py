"""Per-recipient placeholders, filled after MJML compilation so recipients never recompile.

The tags are SendGrid substitution keys: the SendGrid backend sends them with each
personalization, and every other backend (and `render`) fills them locally. HTML and text
parts use separate tags for the first name, because only the HTML value is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import escape

FIRST_NAME_HTML = "-nl_fn_html-"
FIRST_NAME_TEXT = "-nl_fn_text-"
RECIPIENT_TOKEN = "-nl_rt-"  # noqa: S105 — click tracking: one opaque token per recipient
UNSUBSCRIBE_TOKEN = "-nl_ut-"  # noqa: S105 — the signed unsubscribe token
PREFERENCES_TOKEN = "-nl_pt-"  # noqa: S105 — the signed preference-page token
TAGS = (FIRST_NAME_HTML, FIRST_NAME_TEXT, RECIPIENT_TOKEN, UNSUBSCRIBE_TOKEN, PREFERENCES_TOKEN)
_TAG_PATTERN = re.compile("(" + "|".join(re.escape(tag) for tag in TAGS) + ")")


@dataclass(frozen=True, slots=True)
class Recipient:
    """What varies per recipient. Tokens are opaque; nothing clinical, no address."""

    first_name: str | None
    unsubscribe_token: str
    recipient_token: str
    preferences_token: str = ""


@lru_cache(maxsize=4096)  # names repeat: a million recipients share a few thousand
def first_name_values(first_name: str | None, fallback: str) -> tuple[str, str]:
    """The first name as shown (whitespace collapsed, at most 100 characters, else the
    fallback): HTML-escaped for the HTML part, and as is for the text part."""
    first = " ".join((first_name or "").split())[:100] or fallback
    return str(escape(first)), first


def substitutions(
    recipient: Recipient, *, fallback: str, used: frozenset[str] | None = None
) -> dict[str, str]:
    """The values for the tags, as sent to SendGrid in `personalizations[i].substitutions`.

    With `used` (the tags the compiled email contains), only those are given: the provider
    receives no value the body does not show.
    """
    first_html, first_text = first_name_values(recipient.first_name, fallback)
    values = {
        FIRST_NAME_HTML: first_html,
        FIRST_NAME_TEXT: first_text,
        RECIPIENT_TOKEN: recipient.recipient_token,
        UNSUBSCRIBE_TOKEN: recipient.unsubscribe_token,
        PREFERENCES_TOKEN: recipient.preferences_token,
    }
    if used is None:
        return values
    return {tag: value for tag, value in values.items() if tag in used}


class FillableText:
    """A compiled part (HTML or text) pre-split at its tags, so filling is a list join.

    Equivalent to replacing every tag everywhere (SendGrid's semantics), which the tests
    check against the emulator's generic substitution function.
    """

    __slots__ = ("_parts", "_slots", "source", "tags_used")

    def __init__(self, source: str):
        self.source = source
        parts = _TAG_PATTERN.split(source)
        self._parts = parts
        self._slots = tuple((index, parts[index]) for index in range(1, len(parts), 2))
        self.tags_used = frozenset(tag for _, tag in self._slots)

    def fill(self, values: Mapping[str, str]) -> str:
        if not self._slots:
            return self.source
        parts = self._parts.copy()
        for index, tag in self._slots:
            parts[index] = values[tag]
        return "".join(parts)
