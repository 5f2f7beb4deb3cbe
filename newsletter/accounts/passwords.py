"""Password hashing: argon2id (argon2-cffi) with m = 46 MiB, t = 2, p = 1 — above both of
OWASP's first settings (46 MiB × 1 pass, 19 MiB × 2 passes: docs/admin.md)
and roughly 70 ms a hash on one free core (the reference asks for 50–500 ms); rehashed at
sign-in whenever these change.

A password is 12 to 1,024 characters on one line; nothing else is imposed (NIST SP 800-63B).
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from newsletter.errors import ValidationError

MEMORY_KIB = 46 * 1024
TIME_COST = 2
PARALLELISM = 1
MIN_LENGTH = 12
MAX_LENGTH = 1024

HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


@cache
def _dummy() -> str:
    """Verified when the address is unknown, so that answer takes as long as a wrong
    password (made on first use: importing this module costs no hash)."""
    return HASHER.hash("not a password of anyone: equal timing for unknown addresses")


def check_password_rules(password: str, *, where: str = "password") -> str:
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"the password has {len(password)} characters; at least {MIN_LENGTH} are needed",
            where=where,
            fix="choose a longer password (a few unrelated words work well)",
        )
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            f"the password is longer than {MAX_LENGTH} characters",
            where=where,
            fix="choose a shorter password",
        )
    if "\n" in password or "\r" in password or "\x00" in password:
        raise ValidationError(
            "the password contains a line break or a NUL character",
            where=where,
            fix="use one line of text",
        )
    return password


def hash_password(password: str) -> str:
    return HASHER.hash(check_password_rules(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not there is a stored hash; never raises on bad input."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]
    try:
        return HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
