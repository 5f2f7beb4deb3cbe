"""`newsletter db upgrade|current`, and `open_database()` for every command that needs the DB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from newsletter.cli.app import EXIT_CHECK_FAILED, app, console
from newsletter.config import Settings, load_settings
from newsletter.storage.database import Database
from newsletter.storage.schema import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database schema: upgrade and check.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    """The configured database, after checking its schema is current and its secret key is
    the configured one (refuses otherwise, with the fix)."""
    from newsletter import bootstrap

    db = bootstrap.open_database(settings or load_settings())
    try:
        yield db
    finally:
        db.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version (safe to run twice)."""
    from newsletter import bootstrap

    settings = load_settings()
    db = bootstrap.open_database(settings, check_schema=False)
    try:
        before, after = upgrade(db, key_ring=settings.key_ring)
    finally:
        db.close()
    if before == after:
        console.print(f"Database already at revision {after}.")
    else:
        console.print(f"Database upgraded from {before or 'empty'} to {after}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the one this version needs."""
    from newsletter import bootstrap

    db = bootstrap.open_database(load_settings(), check_schema=False)
    try:
        current = current_revision(db)
    finally:
        db.close()
    head = head_revision()
    console.print(f"Database revision: {current or 'none (empty)'}; this version needs {head}.")
    if current != head:
        console.print("Outdated: run `newsletter db upgrade`.")
        raise typer.Exit(EXIT_CHECK_FAILED)
