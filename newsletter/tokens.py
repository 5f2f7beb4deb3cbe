"""Purpose-bound, opaque, signed tokens for links in emails (unsubscribe, click, confirm).

A token is `<key id><random id><mac>`: the random id is what the database stores; the MAC
(HMAC-SHA256 under the secret key, bound to the purpose and key id) makes tokens
unforgeable, so a tampered or random token is rejected before any lookup. Tokens carry no
address, name or database id, and never expire (unsubscribe links must work forever); key
rotation keeps old key ids verify-only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

# `test`: the links of a test send (they decode to the campaign, never to a person);
# `preview`: the links of a rendered preview (they lead to a page saying so, never onward).
Purpose = Literal["unsubscribe", "click", "confirm", "preferences", "test", "preview"]
_ID_BYTES = 16  # 128 bits
_MAC_BYTES = 12
_MAC_LEN = 16
# key id, a random id of 16–64 URL-safe characters (22 from new_random_id, 32 hex from the
# database), then the MAC.
_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{16,64}[A-Za-z0-9_-]{16}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=16)
def _keyed(key: str) -> Any:
    """An HMAC already keyed: copying it skips the key setup (a send signs 2 tokens per
    recipient, a million recipients per campaign)."""
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def _mac(key: str, key_id: str, purpose: str, random_id: str) -> str:
    mac = _keyed(key).copy()
    mac.update(f"{purpose}|{key_id}|{random_id}".encode())
    return _b64(mac.digest()[:_MAC_BYTES])


def new_random_id() -> str:
    return _b64(secrets.token_bytes(_ID_BYTES))


def current_key(keys: Mapping[str, str]) -> tuple[str, str]:
    """(key id, secret) of the key that signs: the first of the ring (`keys.KeyRing`, whose
    `as_mapping()` keeps the current key first)."""
    key_id = next(iter(keys))
    return key_id, keys[key_id]


def sign(purpose: Purpose, random_id: str, *, key: str, key_id: str = "a") -> str:
    return sign_many(purpose, [random_id], key=key, key_id=key_id)[0]


def sign_many(
    purpose: Purpose, random_ids: Sequence[str], *, key: str, key_id: str = "a"
) -> list[str]:
    """Sign many random ids at once (a send signs a whole batch): the checks and the key
    setup are done once. The MAC is `_mac`'s, which `verify` checks."""
    if len(key_id) != 1 or not key_id.isalnum():
        raise ValueError("key id must be one letter or digit")
    if any(not 16 <= len(random_id) <= 64 for random_id in random_ids):
        raise ValueError("random ids are 16–64 characters")
    keyed, prefix = _keyed(key), f"{purpose}|{key_id}|".encode()
    signed = []
    for random_id in random_ids:
        mac = keyed.copy()
        mac.update(prefix + random_id.encode())
        signed.append(key_id + random_id + _b64(mac.digest()[:_MAC_BYTES]))
    return signed


def verify(purpose: Purpose, token: str, *, keys: Mapping[str, str]) -> str | None:
    """The random id inside a valid token for `purpose`, else None (never raises)."""
    if not isinstance(token, str) or not _SHAPE.fullmatch(token):
        return None
    key_id, random_id, mac = token[0], token[1:-_MAC_LEN], token[-_MAC_LEN:]
    key = keys.get(key_id)
    if key is None:
        return None
    if not hmac.compare_digest(mac, _mac(key, key_id, purpose, random_id)):
        return None
    return random_id
