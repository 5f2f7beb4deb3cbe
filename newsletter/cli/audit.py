"""`newsletter audit list`: the append-only audit log (exports, erasures, imports)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console
from newsletter.storage import audit_log

audit_app = typer.Typer(
    help="The audit log of exports, erasures and imports.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many entries.")] = 50,
) -> None:
    """Show the newest audit log entries first."""
    with open_database() as db, db.read() as conn:
        rows = audit_log.recent(conn, limit)
    table = Table("when (UTC)", "who", "action", "target", "detail")
    for row in rows:
        table.add_row(f"{row.occurred_at:%Y-%m-%d %H:%M:%S}", row.actor, row.action, row.target,
                      row.detail)  # fmt: skip
    console.print(table, markup=False, highlight=False)
