"""SendGrid-style substitutions, shared by the emulator and the product's own backends.

Dependency-free on purpose: the outbox and SMTP backends import `apply_substitutions` so that
what they render is byte-for-byte what SendGrid (and the emulator) would send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

__all__ = ["apply_substitutions"]


@lru_cache(maxsize=256)
def _pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    # Longest keys first: with overlapping keys ("-name-" and "-name-full-") the longer one
    # wins at a given position, whatever the dict order. Ties are broken lexically so the
    # pattern (and so the result) does not depend on insertion order.
    ordered = sorted(keys, key=lambda k: (-len(k), k))
    return re.compile("|".join(re.escape(k) for k in ordered))


def apply_substitutions(text: str, substitutions: Mapping[str, str]) -> str:
    """Replace every occurrence of every key of `substitutions` in `text`, in one pass.

    Replacement values are inserted literally and are not scanned again, so a value that
    contains another key is left as is. Empty keys are ignored.
    """
    if not substitutions or not text:
        return text
    keys = tuple(sorted(k for k in substitutions if k))
    if not keys:
        return text
    lookup = substitutions
    return _pattern(keys).sub(lambda m: lookup[m.group(0)], text)
