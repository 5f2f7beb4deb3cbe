"""`newsletter campaign …`: create, submit/approve/reject, send, schedule, unschedule, pause,
resume, cancel, status, list, test, retry-failed, stats."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsletter.cli.app import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, app, console, err_console
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
        list[Path] | None,
        typer.Option("--article", help="Article file (repeat for a digest); added to the library."),
    ] = None,
    article_id: Annotated[
        list[int] | None,
        typer.Option("--article-id", help="Stored article id (`newsletter articles list`)."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Segment name (audiences/NAME.yaml).")
    ] = None,
    list_name: Annotated[
        str | None, typer.Option("--list", help="List name: everyone subscribed to it.")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Subject (default: the title).")] = None,
    template: Annotated[str, typer.Option(help="article, digest, or your own.")] = "article",
    campaign_key: Annotated[
        str | None, typer.Option("--campaign-key", help="Neutral utm_campaign key.")
    ] = None,
    as_: Annotated[
        str | None, typer.Option("--as", help="The author's account (approval needs another).")
    ] = None,
) -> None:
    """Create a draft campaign for a segment or a list, from article files or stored
    articles; prints what the checklist will refuse at send time, then the new id alone on
    the last line."""
    from newsletter.accounts.roles import Action
    from newsletter.accounts.service import actor_for
    from newsletter.cli.articles import cli_actor
    from newsletter.services import article_library
    from newsletter.services.campaign_checks import creation_warnings
    from newsletter.services.campaign_drafts import create_from_library

    if not article and not article_id:
        raise ValidationError(
            "no article given",
            where="--article / --article-id",
            fix="pass --article FILE or --article-id ID",
        )
    settings, db = _open()
    try:
        author = actor_for(db, as_, Action.CAMPAIGNS_EDIT) if as_ else None
        actor = author.audit_name if author else cli_actor()
        ids = [
            article_library.add_file(db, path, site_url=settings.website_url, actor=actor)
            for path in article or []
        ]
        campaign_id = create_from_library(
            db,
            settings,
            [*ids, *(article_id or [])],
            segment=segment,
            list_name=list_name,
            template=template,
            subject=subject,
            campaign_key=campaign_key,
            author=author,
            actor=actor,
        )
        warnings = creation_warnings(db, settings, campaign_id)
    finally:
        db.close()
    for warning in warnings:
        err_console.print(f"Warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    if any(w.blocks_sending for w in warnings):
        err_console.print(
            "`newsletter campaign send` and `schedule` refuse this campaign until the problems "
            "marked (blocks sending) are fixed and it is created again.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    audience = f"segment {segment!r}" if segment is not None else f"list {list_name!r}"
    console.print(f"Created draft campaign for {audience}.", highlight=False)
    print(campaign_id)


AsAccount = Annotated[str, typer.Option("--as", help="Your account's email (its role is checked).")]
Comment = Annotated[str, typer.Option("--comment", help="A note for the author.")]


def _step(step_name: str, campaign_id: int, as_: str, comment: str) -> None:
    from newsletter.accounts.service import actor_for
    from newsletter.domain.approval import NEEDED, Step
    from newsletter.services.approval import take_step

    step = Step(step_name)
    _, db = _open()
    try:
        actor = actor_for(db, as_, NEEDED[step])
        state = take_step(db, campaign_id, step, actor, comment=comment)
    finally:
        db.close()
    console.print(f"Campaign {campaign_id} is {state.value}.", highlight=False)


@campaign_app.command("submit")
def submit(campaign_id: CampaignId, as_: AsAccount, comment: Comment = "") -> None:
    """Submit a draft for approval (by an admin other than its author)."""
    _step("submit", campaign_id, as_, comment)


@campaign_app.command("approve")
def approve(campaign_id: CampaignId, as_: AsAccount, comment: Comment = "") -> None:
    """Approve a submitted campaign (admins; never one's own)."""
    _step("approve", campaign_id, as_, comment)


@campaign_app.command("reject")
def reject(
    campaign_id: CampaignId,
    as_: AsAccount,
    comment: Annotated[str, typer.Option("--comment", help="What to change (required).")],
) -> None:
    """Reject a submitted or approved campaign with a comment; it goes back to its author."""
    _step("reject", campaign_id, as_, comment)


@campaign_app.command("send")
def send(
    campaign_id: CampaignId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Send now (or resume a send); returns when the campaign ends or needs review."""
    from newsletter.bootstrap import dispatcher, send_context
    from newsletter.services import campaigns as service
    from newsletter.services.campaign_schedule import start_now
    from newsletter.services.runner import drive
    from newsletter.services.segments import count_segment, target_segment

    settings, db = _open()
    try:
        row = service.report(db, campaign_id)
        if row.status == "draft":
            audience = count_segment(db, target_segment(settings.audiences_dir, row.target))
            console.print(
                f"Campaign {campaign_id} “{row.subject}” → {row.target}: "
                f"{audience:,} recipient(s) now.",
                highlight=False,
            )
            if not yes and sys.stdin.isatty() and not typer.confirm("Send it now?"):
                raise typer.Exit(EXIT_BAD_INPUT)
        status = start_now(db, settings, campaign_id, now=datetime.now(UTC))
        if status in ("cancelled", "missed", "sent"):
            console.print(f"Campaign {campaign_id} is {status}.")
            raise typer.Exit(0 if status == "sent" else EXIT_CHECK_FAILED)
        if status == "scheduled":
            _say_waiting(service.report(db, campaign_id))
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


def _say_waiting(report) -> None:  # type: ignore[no-untyped-def]
    """`send` on a campaign scheduled for later waits for its time: say so, never silently."""
    from newsletter.domain.send_time import describe

    if report.scheduled_at and datetime.fromisoformat(report.scheduled_at) > datetime.now(UTC):
        when = describe(datetime.fromisoformat(report.scheduled_at), report.time_zone)
        console.print(
            f"Campaign {report.id} is scheduled for {when}: this command waits until then "
            f"and sends it. To send it now instead: `newsletter campaign unschedule "
            f"{report.id}`, then `newsletter campaign send {report.id}`.",
            highlight=False,
            markup=False,
        )


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
    at: Annotated[str, typer.Option("--at", help='When, as you would say it: "2026-12-08 09:00".')],
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="IANA time zone (default: NEWSLETTER_TIME_ZONE)."),
    ] = None,
) -> None:
    """Schedule a draft, or move a scheduled campaign; the engine (`newsletter engine`)
    starts it on time."""
    from newsletter.domain.send_time import describe, resolve
    from newsletter.services import campaign_schedule as service

    settings, db = _open()
    try:
        when = resolve(at, zone=tz, default_zone=settings.time_zone, now=datetime.now(UTC))
        was = service.schedule(db, settings, campaign_id, at=when.utc, time_zone_name=when.zone)
    finally:
        db.close()
    if when.note:
        console.print(f"Note: {when.note}.", highlight=False, markup=False)
    verb = "rescheduled" if was == "scheduled" else "scheduled"
    console.print(
        f"Campaign {campaign_id} {verb} for {describe(when.utc, when.zone)}.",
        highlight=False,
        markup=False,
    )
    console.print("`newsletter engine` starts it on time; keep one running.", highlight=False)


@campaign_app.command("unschedule")
def unschedule(campaign_id: CampaignId) -> None:
    """Take a scheduled campaign back to draft (its email is unchanged)."""
    from newsletter.services import campaign_schedule as service

    _, db = _open()
    try:
        service.unschedule(db, campaign_id)
    finally:
        db.close()
    console.print(f"Campaign {campaign_id} is a draft again; schedule or send it when ready.")


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
    from newsletter.domain.send_time import describe

    table = Table(title=f"Campaign {report.id} · {report.status}", show_header=False)
    table.add_row("Subject", report.subject)
    table.add_row("Audience", report.target)
    table.add_row("Key", report.key)
    if report.scheduled_at:
        table.add_row("Send time", describe(datetime.fromisoformat(report.scheduled_at),
                                            report.time_zone))  # fmt: skip
    if report.pause_reason:
        table.add_row("Reason", report.pause_reason)
    table.add_row("Recipients", f"{sum(report.deliveries.values()):,} frozen")
    for name, count in sorted(report.deliveries.items()):
        table.add_row(f"  {name}", f"{count:,}")
    table.add_row("Batches", ", ".join(f"{k} {v}" for k, v in sorted(report.batches.items())))
    console.print(table)


@campaign_app.command("list")
def list_() -> None:
    """Every campaign with its status, audience and send time (its zone and UTC)."""
    from zoneinfo import ZoneInfo

    from newsletter.services.campaigns import list_campaigns

    _, db = _open()
    try:
        rows = list_campaigns(db)
    finally:
        db.close()
    table = Table("Id", "Status", "Audience")
    table.add_column("Subject", overflow="ellipsis", no_wrap=True, max_width=30)
    table.add_column("Send time", min_width=20)
    table.add_column("Created", min_width=10)
    for row in rows:
        when = ""
        if row.scheduled_at is not None:
            local = row.scheduled_at.astimezone(ZoneInfo(row.time_zone))
            when = (
                f"{local:%Y-%m-%d %H:%M %Z}\n{row.time_zone}\n{row.scheduled_at:%Y-%m-%d %H:%M} UTC"
            )
        table.add_row(
            str(row.id), row.status, row.target, row.subject, when, f"{row.created_at:%Y-%m-%d}"
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


@campaign_app.command("stats")
def stats(
    campaign_id: CampaignId,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help='CSV export (1–4 per link or period shown as "<5").')
    ] = False,
) -> None:
    """Delivery, complaints, unsubscribes, human and machine clicks, bookings, per link and
    over time, from counters kept as events and clicks arrive (exact figures)."""
    from newsletter.cli.stats_table import print_stats
    from newsletter.engagement.stats import campaign_stats, stats_csv

    if as_json and as_csv:
        raise ValidationError("choose one of --json and --csv", where="--json/--csv")
    settings, db = _open()
    try:
        result = campaign_stats(db, campaign_id, open_tracking=settings.open_tracking)
    finally:
        db.close()
    if as_json:
        print(json.dumps(result, indent=2))
    elif as_csv:
        print(stats_csv(result), end="")
    else:
        print_stats(result)
