"""`newsletter db upgrade|current` (every command opens the database with
`bootstrap.open_database`)."""

from __future__ import annotations

import typer

from newsletter.bootstrap import open_database
from newsletter.cli.app import EXIT_CHECK_FAILED, app, console
from newsletter.config import load_settings
from newsletter.storage.schema import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database schema: upgrade and check.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version (safe to run twice)."""
    settings = load_settings()
    with open_database(settings, check_schema=False) as db:
        before, after = upgrade(db, key_ring=settings.key_ring)
    if before == after:
        console.print(f"Database already at revision {after}.")
    else:
        console.print(f"Database upgraded from {before or 'empty'} to {after}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the one this version needs."""
    with open_database(check_schema=False) as db:
        current = current_revision(db)
    head = head_revision()
    console.print(f"Database revision: {current or 'none (empty)'}; this version needs {head}.")
    if current != head:
        console.print("Outdated: run `newsletter db upgrade`.")
        raise typer.Exit(EXIT_CHECK_FAILED)
