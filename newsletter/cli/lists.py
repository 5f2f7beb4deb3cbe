"""`newsletter lists create|list`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console
from newsletter.services.lists import create_list, list_lists

lists_app = typer.Typer(help="Mailing lists (single or double opt-in).", no_args_is_help=True)
app.add_typer(lists_app, name="lists")


@lists_app.command("create")
def lists_create(
    name: Annotated[str, typer.Argument(help="List name, e.g. newsletter.")],
    double_opt_in: Annotated[
        bool, typer.Option("--double-opt-in", help="New people confirm by email first.")
    ] = False,
) -> None:
    """Create a list."""
    with open_database() as db:
        created = create_list(db, name, double_opt_in=double_opt_in)
    kind = "double opt-in" if created.double_opt_in else "single opt-in"
    console.print(f"Created list {created.name!r} ({kind}).", highlight=False, markup=False)


@lists_app.command("list")
def lists_list() -> None:
    """Show every list with its active and pending members."""
    with open_database() as db:
        rows = list_lists(db)
    table = Table("name", "opt-in", "active", "pending", "created")
    for row in rows:
        table.add_row(
            row.name,
            "double" if row.double_opt_in else "single",
            str(row.active),
            str(row.pending),
            f"{row.created_at:%Y-%m-%d}",
        )
    console.print(table)


@lists_app.command("add")
def lists_add(
    name: Annotated[str, typer.Argument(help="List name.")],
    email: Annotated[str, typer.Argument(help="An existing, active subscriber.")],
    consent: Annotated[str, typer.Option("--consent", help="The exact consent wording.")],
) -> None:
    """Add an existing subscriber to a single opt-in list, with their consent."""
    from newsletter.cli.subscribers import staff_user
    from newsletter.services.subscribers import add_to_list

    with open_database() as db:
        add_to_list(db, email, name, consent_text=consent, staff_user=staff_user())
    console.print(f"{email} is on {name!r}.", markup=False, highlight=False)


@lists_app.command("remove")
def lists_remove(
    name: Annotated[str, typer.Argument(help="List name.")],
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
) -> None:
    """Take a subscriber off one list (recorded as a withdrawal for that list)."""
    from newsletter.cli.subscribers import staff_user
    from newsletter.config import load_settings
    from newsletter.services.suppressions import unsubscribe

    settings = load_settings()
    key = settings.key_ring
    with open_database(settings) as db:
        unsubscribe(db, key=key, email=email, source=staff_user(), list_name=name)
    console.print(f"{email} left {name!r}.", markup=False, highlight=False)
