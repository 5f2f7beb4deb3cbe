"""The key ring: `ID:SECRET` entries, the current key first, older keys after it.

Why ids: every link token carries the id of the key that signed it (`tokens.py`), and
unsubscribe links never expire, so a new key needs a new id and every older key stays
known (verify-only) forever. A bare secret without an id is key `a` (the id every token
carried before rotation existed).

The current key also keys the address hashes (`domain.subscribers.email_hash`); erasure
hashes made under an older key cannot be re-keyed (the address is gone), so look-ups hash
under every key of the ring (`lookup_secrets`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

MIN_SECRET_LENGTH = 32
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ENTRY = re.compile(r"(?:(?P<id>[A-Za-z0-9]):)?(?P<secret>\S+)")
_SEPARATORS = re.compile(r"[\s,]+")


class KeyRingError(ValueError):
    """The ring text is malformed (the message is one short reason)."""


@dataclass(frozen=True)
class KeyRing:
    """Key id → secret, current first. `repr` never shows a secret."""

    entries: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise KeyRingError("no key given")

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Entries separated by commas, spaces or new lines; `#` starts a comment line."""
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        raw = [part for part in _SEPARATORS.split(" ".join(lines)) if part]
        entries: list[tuple[str, str]] = []
        for position, part in enumerate(raw, 1):
            match = _ENTRY.fullmatch(part)
            if match is None:  # pragma: no cover (\S+ matches any part)
                raise KeyRingError(f"key {position} is not ID:SECRET")
            key_id, secret = match["id"] or "a", match["secret"]
            if len(secret) < MIN_SECRET_LENGTH:
                raise KeyRingError(
                    f"key {key_id!r} is shorter than {MIN_SECRET_LENGTH} characters "
                    "(make one with `newsletter secret generate`)"
                )
            if any(key_id == known for known, _ in entries):
                raise KeyRingError(f"key id {key_id!r} is given twice")
            entries.append((key_id, secret))
        return cls(tuple(entries))

    @property
    def current_id(self) -> str:
        return self.entries[0][0]

    @property
    def current(self) -> str:
        """The secret that signs new tokens and keys new address hashes."""
        return self.entries[0][1]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.entries)

    def as_mapping(self) -> Mapping[str, str]:
        """Key id → secret, for verifying tokens and decoding delivery ids."""
        return dict(self.entries)

    def secret(self, key_id: str) -> str | None:
        return dict(self.entries).get(key_id)

    def lookup_secrets(self) -> tuple[str, ...]:
        """Every secret, current first: address look-ups hash under each of them."""
        return tuple(secret for _, secret in self.entries)

    def fingerprint(self, key_id: str) -> str:
        """A public, stable name for one key (HMAC of a constant): tells keys apart in the
        database without storing anything that helps recover them."""
        secret = dict(self.entries)[key_id]
        return fingerprint_of(secret)

    def next_id(self) -> str:
        """The first id not used yet (a, b, c, …)."""
        for candidate in ID_ALPHABET:
            if candidate not in self.ids:
                return candidate
        raise KeyRingError("every key id is used; retire old keys into a new ring")

    def as_text(self) -> str:
        return " ".join(f"{key_id}:{secret}" for key_id, secret in self.entries)

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id!r}, ids={list(self.ids)!r})"

    __str__ = __repr__


def fingerprint_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"newsletter key fingerprint v1", hashlib.sha256).hexdigest()[
        :32
    ]
