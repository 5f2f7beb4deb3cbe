"""`newsletter campaign …`: create, submit/approve/reject, send, schedule, unschedule, pause,
resume, cancel, status, list, test, retry-failed, stats; the bodies of send
(campaign_send.py) and review (campaign_review.py) live beside it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from newsletter.cli.app import app, console, err_console
from newsletter.config import Settings, load_settings
from newsletter.errors import ValidationError

if TYPE_CHECKING:
    from newsletter.services.campaigns import CampaignReport
    from newsletter.storage.database import Database

campaign_app = typer.Typer(help="Create, send and follow campaigns.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")

CampaignId = Annotated[int, typer.Argument(help="Campaign id (see `newsletter campaign list`).")]


@contextmanager
def open_campaigns() -> Iterator[tuple[Settings, Database]]:
    """The settings and the database, closed after the block."""
    from newsletter.bootstrap import open_database

    settings = load_settings()
    with open_database(settings) as db:
        yield settings, db


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
    with open_campaigns() as (settings, db):
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
    with open_campaigns() as (_, db):
        actor = actor_for(db, as_, NEEDED[step])
        state = take_step(db, campaign_id, step, actor, comment=comment)
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
    from newsletter.cli.campaign_send import run_send

    run_send(campaign_id, yes=yes)


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

    with open_campaigns() as (settings, db):
        when = resolve(at, zone=tz, default_zone=settings.time_zone, now=datetime.now(UTC))
        was = service.schedule(db, settings, campaign_id, at=when.utc, time_zone_name=when.zone)
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

    with open_campaigns() as (_, db):
        service.unschedule(db, campaign_id)
    console.print(f"Campaign {campaign_id} is a draft again; schedule or send it when ready.")


def _simple(name: str, doc: str) -> None:
    def command(campaign_id: CampaignId) -> None:
        from newsletter.services import campaigns as service

        with open_campaigns() as (_, db):
            if name == "cancel":
                service.cancel(db, campaign_id, now=datetime.now(UTC))
            else:
                getattr(service, name)(db, campaign_id)
            report = service.report(db, campaign_id)
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

    with open_campaigns() as (_, db):
        count = service.retry_failed(db, campaign_id)
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
    from newsletter.cli.campaign_waits import wait_lines
    from newsletter.services import campaigns as service

    with open_campaigns() as (_, db):
        report = service.report(db, campaign_id)
        waiting = wait_lines(db, campaign_id) if report.status in ("sending", "paused") else []
    if as_json:
        print(json.dumps({**report.as_dict(), "waiting": waiting}, indent=2))
    else:
        print_report(report)
        for line in waiting:
            console.print(f"Waiting: {line}.", highlight=False, markup=False, soft_wrap=True)


def print_report(report: CampaignReport) -> None:
    """A campaign's status, send time and recipients and batches by state, as a table."""
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

    with open_campaigns() as (_, db):
        rows = list_campaigns(db)
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
    from newsletter.services.test_sends import send_test

    with open_campaigns() as (settings, db):
        send_test(db, settings, delivery_backend(settings), campaign_id, to)
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
    with open_campaigns() as (settings, db):
        result = campaign_stats(db, campaign_id, open_tracking=settings.open_tracking)
    if as_json:
        print(json.dumps(result, indent=2))
    elif as_csv:
        print(stats_csv(result), end="")
    else:
        print_stats(result)


@campaign_app.command("review")
def review(
    campaign_id: CampaignId,
    batches: Annotated[
        list[str] | None, typer.Argument(help="Batch ids for --accept / --resend.")
    ] = None,
    accept: Annotated[bool, typer.Option("--accept", help="Record them as sent.")] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="Send them again (risk: duplicates).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts).")] = False,
    as_: Annotated[str | None, typer.Option("--as", help="Your account (may send).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable listing.")] = False,
) -> None:
    """Batches held for review (their request may have reached the provider): attempts,
    HTTP status, request time, errors, provider events. `--accept BATCH…` records them as
    sent; `--resend BATCH…` sends them again after confirming the duplicate risk."""
    from newsletter.cli.campaign_review import run_review

    run_review(
        campaign_id,
        batches or [],
        accept=accept,
        resend=resend,
        yes=yes,
        as_=as_,
        as_json=as_json,
    )
