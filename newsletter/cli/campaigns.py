"""`newsletter campaign …`: create, send, schedule, pause, resume, cancel, status, list,
test, retry-failed."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsletter.cli.app import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, app, console
from newsletter.config import load_settings
from newsletter.domain.sending import OPEN_BATCH
from newsletter.errors import ValidationError

campaign_app = typer.Typer(help="Create, send and follow campaigns.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")

CampaignId = Annotated[int, typer.Argument(help="Campaign id (see `newsletter campaign list`).")]


def _open():  # type: ignore[no-untyped-def]
    from newsletter.bootstrap import open_database

    settings = load_settings()
    return settings, open_database(settings)


@campaign_app.command("create")
def create(
    article: Annotated[
        list[Path], typer.Option("--article", help="Article file (repeat for a digest).")
    ],
    segment: Annotated[str, typer.Option("--segment", help="Segment name (audiences/NAME.yaml).")],
    subject: Annotated[str | None, typer.Option(help="Subject (default: the title).")] = None,
    template: Annotated[str, typer.Option(help="article, digest, or your own.")] = "article",
    campaign_key: Annotated[
        str | None, typer.Option("--campaign-key", help="Neutral utm_campaign key.")
    ] = None,
) -> None:
    """Create a draft campaign; prints its id alone on the last line."""
    from newsletter.services.campaigns import create_campaign

    settings, db = _open()
    try:
        campaign_id = create_campaign(
            db,
            settings,
            articles=article,
            segment=segment,
            template=template,
            subject=subject,
            campaign_key=campaign_key,
        )
    finally:
        db.close()
    console.print(f"Created draft campaign for segment {segment!r}.", highlight=False)
    print(campaign_id)


@campaign_app.command("send")
def send(
    campaign_id: CampaignId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Send now (or resume a send); returns when the campaign ends or needs review."""
    from newsletter.bootstrap import dispatcher, send_context
    from newsletter.services import campaigns as service
    from newsletter.services.runner import drive
    from newsletter.services.segments import count_segment, get_segment

    settings, db = _open()
    try:
        row = service.report(db, campaign_id)
        if row.status == "draft":
            audience = count_segment(db, get_segment(settings.audiences_dir, row.segment))
            console.print(
                f"Campaign {campaign_id} “{row.subject}” → segment {row.segment!r}: "
                f"{audience:,} recipient(s) now.",
                highlight=False,
            )
            if not yes and sys.stdin.isatty() and not typer.confirm("Send it now?"):
                raise typer.Exit(EXIT_BAD_INPUT)
        status = service.start_now(db, settings, campaign_id, now=datetime.now(UTC))
        if status in ("cancelled", "missed", "sent"):
            console.print(f"Campaign {campaign_id} is {status}.")
            raise typer.Exit(0 if status == "sent" else EXIT_CHECK_FAILED)
        ctx = send_context(settings, db)
        pool = dispatcher(settings, ctx)
        events = _event_processor(settings, db)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(f"Campaign {campaign_id}", total=None, detail="")

            def show(batches: dict[str, int], status: str) -> None:
                live = {k: v for k, v in batches.items() if k != "split"}  # split = replaced
                open_ = sum(live.get(k, 0) for k in OPEN_BATCH)
                progress.update(
                    task,
                    total=sum(live.values()) or None,
                    completed=sum(live.values()) - open_,
                    detail=f"{status} · batches "
                    + ", ".join(f"{k} {v:,}" for k, v in sorted(live.items())),
                )

            try:
                final = drive(ctx, pool, campaign_id, on_progress=show, process_events=events)
            finally:
                pool.close()
        _print_report(service.report(db, campaign_id))
        raise typer.Exit(0 if final == "sent" else EXIT_CHECK_FAILED)
    finally:
        db.close()


def _event_processor(settings, db):  # type: ignore[no-untyped-def]
    """Process stored webhook events each tick, when the tracking service is available."""
    try:
        from newsletter.services.tracking import process_inbox
    except ImportError:  # pragma: no cover - the web layer ships with the product
        return None
    return lambda: process_inbox(db, key=settings.key_ring, now=datetime.now(UTC))


@campaign_app.command("schedule")
def schedule(
    campaign_id: CampaignId,
    at: Annotated[str, typer.Option("--at", help="When, ISO 8601 with a UTC offset.")],
) -> None:
    """Schedule a draft; the engine (`newsletter engine`) starts it on time."""
    from newsletter.services import campaigns as service

    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationError(
            f"{at!r} is not a date and time",
            where="--at",
            fix="write e.g. 2026-12-01T09:00:00-05:00",
        ) from None
    if when.tzinfo is None:
        raise ValidationError(
            "the time has no UTC offset",
            where="--at",
            fix="add the offset, e.g. 2026-12-01T09:00:00-05:00",
        )
    settings, db = _open()
    try:
        service.schedule(db, settings, campaign_id, at=when.astimezone(UTC))
    finally:
        db.close()
    console.print(f"Campaign {campaign_id} scheduled for {when.isoformat()}.")


def _simple(name: str, doc: str):  # type: ignore[no-untyped-def]
    def command(campaign_id: CampaignId) -> None:
        from newsletter.services import campaigns as service

        _, db = _open()
        try:
            if name == "cancel":
                service.cancel(db, campaign_id, now=datetime.now(UTC))
            else:
                getattr(service, name)(db, campaign_id)
            report = service.report(db, campaign_id)
        finally:
            db.close()
        console.print(f"Campaign {campaign_id} is now {report.status}.")

    command.__doc__ = doc
    campaign_app.command(name)(command)


_simple("pause", "Pause a sending campaign (in-flight batches finish).")
_simple("resume", "Resume a paused campaign.")
_simple("cancel", "Cancel a campaign that has not ended.")


@campaign_app.command("retry-failed")
def retry_failed(campaign_id: CampaignId) -> None:
    """Send again to the recipients that failed (campaign sent_with_errors)."""
    from newsletter.services import campaigns as service

    _, db = _open()
    try:
        count = service.retry_failed(db, campaign_id)
    finally:
        db.close()
    console.print(
        f"{count} failed recipient(s) queued again; run `newsletter campaign send "
        f"{campaign_id}` or let the engine send them."
    )


@campaign_app.command("status")
def status(
    campaign_id: CampaignId,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Where a campaign is: status, recipients by state, batches by state."""
    from newsletter.services import campaigns as service

    _, db = _open()
    try:
        report = service.report(db, campaign_id)
    finally:
        db.close()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Campaign {report.id} · {report.status}", show_header=False)
    table.add_row("Subject", report.subject)
    table.add_row("Segment", report.segment)
    table.add_row("Key", report.key)
    if report.pause_reason:
        table.add_row("Reason", report.pause_reason)
    table.add_row("Recipients", f"{sum(report.deliveries.values()):,} frozen")
    for name, count in sorted(report.deliveries.items()):
        table.add_row(f"  {name}", f"{count:,}")
    table.add_row("Batches", ", ".join(f"{k} {v}" for k, v in sorted(report.batches.items())))
    console.print(table)


@campaign_app.command("list")
def list_() -> None:
    """Every campaign with its status."""
    from newsletter.services.campaigns import list_campaigns

    _, db = _open()
    try:
        rows = list_campaigns(db)
    finally:
        db.close()
    table = Table("Id", "Status", "Segment", "Key", "Subject", "Created")
    for row in rows:
        table.add_row(
            str(row.id),
            row.status,
            row.segment,
            row.key,
            row.subject,
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@campaign_app.command("test")
def test(
    campaign_id: CampaignId,
    to: Annotated[list[str], typer.Option("--to", help="Seed address (repeat).")],
) -> None:
    """Send a test, marked [TEST], to a seed list; records nothing in the ledger."""
    from newsletter.bootstrap import delivery_backend
    from newsletter.services.campaigns import send_test

    settings, db = _open()
    try:
        send_test(db, settings, delivery_backend(settings), campaign_id, to)
    finally:
        db.close()
    console.print(f"Test sent to {len(to)} address(es).")
