"""Secret keys: the key ring (current key signs and hashes, older keys verify forever), where
the ring comes from (a setting, a secret file, or a generated file next to the database),
and the database's record of which key its keyed hashes use (rotation)."""

from newsletter.keys.ring import KeyRing, KeyRingError

__all__ = ["KeyRing", "KeyRingError"]
