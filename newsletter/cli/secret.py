"""`newsletter secret generate|rotate`: make a key, and move the database to a new one."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.app import app, console, err_console

if TYPE_CHECKING:
    from newsletter.keys.ring import KeyRing

secret_app = typer.Typer(
    help="The secret key ring: generate a key, rotate the database to a new one.",
    no_args_is_help=True,
)
app.add_typer(secret_app, name="secret")


def _configured_ring() -> KeyRing | None:
    """The ring already configured, if any, read without generating anything."""
    from newsletter.config import Settings
    from newsletter.keys.ring import KeyRing
    from newsletter.keys.source import read_key_file

    try:
        settings = Settings()
        if settings.secret_key_file is not None:
            return KeyRing.parse(read_key_file(settings.secret_key_file))
        if settings.secret_key is not None:
            return KeyRing.parse(settings.secret_key.get_secret_value())
    except Exception:  # only a suggestion for the id: never fail on it
        return None
    return None


@secret_app.command("generate")
def secret_generate(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="Key id, one letter or digit (default: the next unused)."),
    ] = None,
) -> None:
    """Print a new random key as `ID:SECRET` (stdout) and how to install it (stderr)."""
    from newsletter.errors import ValidationError
    from newsletter.keys.ring import ID_ALPHABET

    ring = _configured_ring()
    chosen = key_id or (ring.next_id() if ring is not None else "a")
    if len(chosen) != 1 or chosen not in ID_ALPHABET:
        raise ValidationError(f"{chosen!r} is not a key id", where="--id",
                              fix="use one letter or digit, e.g. --id b")  # fmt: skip
    if ring is not None and chosen in ring.ids:
        raise ValidationError(f"key id {chosen!r} is already in the key ring", where="--id",
                              fix=f"use a new id, e.g. --id {ring.next_id()}")  # fmt: skip
    entry = f"{chosen}:{secrets.token_urlsafe(48)}"
    console.print(entry, highlight=False, soft_wrap=True)
    if ring is None:
        err_console.print(
            "Set NEWSLETTER_SECRET_KEY to this value (or put it in the file named by "
            "NEWSLETTER_SECRET_KEY_FILE), and back it up together with the database.",
            markup=False,
            soft_wrap=True,
        )
    else:
        err_console.print(
            f"To rotate: put this key first and keep every old one after it, e.g. "
            f"NEWSLETTER_SECRET_KEY='{chosen}:… {' '.join(f'{i}:…' for i in ring.ids)}', "
            "stop `serve` and the engine, run `newsletter secret rotate`, start them again. "
            "Old keys stay in the ring for good: links already mailed carry their id.",
            markup=False,
            soft_wrap=True,
        )


@secret_app.command("rotate")
def secret_rotate() -> None:
    """Re-key the database's address hashes to the ring's current key (one transaction)."""
    from newsletter.bootstrap import open_database
    from newsletter.config import load_settings
    from newsletter.keys.database import rotate
    from newsletter.storage import audit_log

    settings = load_settings()
    with open_database(settings, check_key=False) as db:
        now = datetime.now(UTC)
        result = rotate(db, settings.key_ring, now=now)
        if result is not None:
            with db.write() as conn:
                audit_log.record(conn, actor="cli", action="rotate-key",
                                 target=f"key:{result.new_id}", now=now,
                                 detail={"from": result.old_id, "subscribers": result.subscribers,
                                         "suppressions": result.suppressions,
                                         "erasures_kept": result.erasures_kept})  # fmt: skip
    ring = settings.key_ring
    if result is None:
        console.print(f"The database already uses key {ring.current_id!r}; nothing to do.")
        return
    console.print(
        f"Re-keyed from {result.old_id!r} to {result.new_id!r}: {result.subscribers} "
        f"subscriber(s), {result.suppressions} suppression(s), {result.confirmations} "
        f"confirmation request(s); {result.erasures_kept} erasure hash(es) stay under older "
        f"keys (looked up under every key). Keep key {result.old_id!r} in the ring for good.",
        highlight=False,
    )
