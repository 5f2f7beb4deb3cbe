"""`newsletter events process`: process stored SendGrid webhook batches (crash recovery)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from newsletter.cli.app import app, console

events_app = typer.Typer(help="SendGrid Event Webhook batches.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("process")
def process(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Process every stored webhook batch not processed yet (the server also does this on
    start-up and after each post), then purge raw batches processed longer ago than
    NEWSLETTER_WEBHOOK_RETENTION_DAYS. Safe to run at any time, also while serving."""
    from datetime import UTC, datetime

    from newsletter.bootstrap import open_database
    from newsletter.config import load_settings
    from newsletter.privacy.stored_text import purge_raw_batches
    from newsletter.services.tracking import process_inbox

    settings = load_settings()
    with open_database(settings) as db:
        now = datetime.now(UTC)
        counts = process_inbox(db, key=settings.key_ring, now=now)
        with db.write() as conn:
            purged = purge_raw_batches(conn, now=now,
                                       retention_days=settings.webhook_retention_days)  # fmt: skip
    if as_json:
        console.print(json.dumps(counts.as_dict()), markup=False, highlight=False)
    else:
        console.print(
            f"Processed {counts.rows} batch(es): {counts.events} event(s), {counts.new} new, "
            f"{counts.duplicates} duplicate(s), {counts.unknown} of unknown type, "
            f"{counts.invalid} invalid, {counts.suppressed} address(es) suppressed; "
            f"purged {purged} raw batch(es) past the retention period.",
            markup=False,
            highlight=False,
        )
    if counts.failed_rows:
        console.print(f"{counts.failed_rows} batch(es) failed and stay queued (see the log).")
        raise typer.Exit(1)
