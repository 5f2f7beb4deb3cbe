"""Opaque public ids for deliveries, computed from the primary key instead of stored.

A delivery shows the outside world two ids: its `send_id` (the only value SendGrid sees, in
`custom_args`) and its link id (signed into its unsubscribe and click links, `tokens.py`).
Both are AES-128 encryptions of (purpose tag, delivery id) under keys derived from the secret
key: 128 pseudorandom bits, unlinkable to each other and to the row without the key, and
decoded back to the delivery by decryption, without any index.

Why not random values in columns: freezing a million recipients then wrote two random keys
per row into unique indexes that outgrow any reasonable page cache (two thirds of planning
time, docs/benchmarks.md). A block cipher gives the same opacity with nothing to store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEND = b"nl-send\x00"  # 8-byte purpose tags: a decrypted block must start with its tag
_LINK = b"nl-link\x00"
_TEST = b"nl-test\x00"  # a test send's links: the campaign id, never a delivery
_HEX = frozenset("0123456789abcdef")


@lru_cache(maxsize=32)
def _cipher(secret: str, purpose: bytes) -> Cipher:
    key = HKDF(
        algorithm=hashes.SHA256(), length=16, salt=None, info=b"newsletter delivery id " + purpose
    ).derive(secret.encode())
    # ECB is the raw block cipher, which is what we want: each value is one block, and every
    # block is distinct (tag + unique id), so no pattern can repeat.
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305


_contexts = threading.local()


def _decryptor(secret: str, purpose: bytes) -> Any:
    """A decryption context kept per thread: ECB over whole blocks keeps no state between
    calls, and making a context costs 6× decrypting a block (the click redirect and the
    webhook decode one id per request or event)."""
    cache = _contexts.__dict__.setdefault("by_key", {})
    context = cache.get((secret, purpose))
    if context is None:
        context = cache[secret, purpose] = _cipher(secret, purpose).decryptor()
    return context


class DeliveryIds:
    """Encode delivery ids with the current key; decode with any key still known.

    The current key is `current`, else the first of `keys` (a key ring's mapping lists the
    current key first). Rotation keeps every older key, so every id already mailed decodes."""

    def __init__(self, keys: Mapping[str, str], *, current: str | None = None):
        current = current if current is not None else next(iter(keys))
        self._current = keys[current]
        self._secrets = [keys[current], *(v for k, v in keys.items() if k != current)]

    def send_ids(self, delivery_ids: Sequence[int]) -> list[str]:
        return _encode(self._current, _SEND, delivery_ids)

    def link_ids(self, delivery_ids: Sequence[int]) -> list[str]:
        return _encode(self._current, _LINK, delivery_ids)

    def test_id(self, campaign_id: int) -> str:
        """The id signed into a test send's links (purpose `test`): it decodes to the campaign."""
        return _encode(self._current, _TEST, [campaign_id])[0]

    def campaign_for_test_id(self, value: object) -> int | None:
        return self._decode(_TEST, value)

    def delivery_for_send_id(self, value: object) -> int | None:
        return self._decode(_SEND, value)

    def delivery_for_link_id(self, value: object) -> int | None:
        return self._decode(_LINK, value)

    def _decode(self, purpose: bytes, value: object) -> int | None:
        """The delivery id inside `value`, or None for anything we did not make."""
        if not isinstance(value, str) or len(value) != 32 or not _HEX.issuperset(value):
            return None
        block = bytes.fromhex(value)
        for secret in self._secrets:
            plain = _decryptor(secret, purpose).update(block)
            if plain[:8] == purpose:
                return int.from_bytes(plain[8:], "big")
        return None


def _encode(secret: str, purpose: bytes, delivery_ids: Sequence[int]) -> list[str]:
    """One cipher call for the whole batch: ~1 µs per id."""
    if not delivery_ids:
        return []
    plain = b"".join(purpose + i.to_bytes(8, "big") for i in delivery_ids)
    out = _cipher(secret, purpose).encryptor().update(plain).hex()
    return [out[i : i + 32] for i in range(0, len(out), 32)]
