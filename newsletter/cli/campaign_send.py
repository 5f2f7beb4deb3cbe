"""The body of `newsletter campaign send` (declared in campaigns.py): start the campaign if it
is not sending yet, then drive it in the foreground with a progress bar until it ends, needs
review, or only batches in doubt are left (then say what settles them and when)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from newsletter.cli.app import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, console
from newsletter.cli.campaigns import open_campaigns, print_report
from newsletter.config import Settings
from newsletter.domain.sending import OPEN_BATCH

if TYPE_CHECKING:  # resuming after a crash imports as little as it can: it claims sooner
    from newsletter.services.campaigns import CampaignReport
    from newsletter.storage.database import Database


def run_send(campaign_id: int, *, yes: bool) -> None:
    from newsletter.bootstrap import dispatcher, send_context
    from newsletter.cli.campaign_waits import WaitTicker
    from newsletter.services.runner import IN_DOUBT, drive
    from newsletter.storage.campaign_store import get_campaign

    with open_campaigns() as (settings, db):
        with db.read() as conn:
            status = get_campaign(conn, campaign_id).status
        if status != "sending":  # resuming skips these imports: it claims sooner after a crash
            _start(db, settings, campaign_id, yes=yes)
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
            ticker = WaitTicker(db, campaign_id)

            def say(line: str) -> None:
                progress.console.print(line, highlight=False, markup=False, soft_wrap=True)

            def show(batches: dict[str, int], status: str) -> None:
                live = {k: v for k, v in batches.items() if k != "split"}  # split = replaced
                open_ = sum(live.get(k, 0) for k in OPEN_BATCH)
                progress.update(
                    task,
                    total=sum(live.values()) or None,
                    completed=sum(live.values()) - open_,
                    detail=f"{status} · batches "
                    + ", ".join(f"{k} {v:,}" for k, v in sorted(live.items()))
                    + (ticker.update(say) if open_ else ""),
                )

            try:
                final = drive(
                    ctx,
                    pool,
                    campaign_id,
                    on_progress=show,
                    process_events=events,
                    leave_in_doubt=True,
                )
            finally:
                pool.close()
        from newsletter.services import campaigns as service

        print_report(service.report(db, campaign_id))
        if final == IN_DOUBT:
            _say_in_doubt(db, settings, campaign_id)
        raise typer.Exit(0 if final == "sent" else EXIT_CHECK_FAILED)


def _start(db: Database, settings: Settings, campaign_id: int, *, yes: bool) -> None:
    """A campaign not yet sending: confirm a draft, run the checklist and start it."""
    from newsletter.services import campaigns as service
    from newsletter.services.campaign_schedule import start_now
    from newsletter.services.segments import count_segment, target_segment

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


def _say_in_doubt(db: Database, settings: Settings, campaign_id: int) -> None:
    """Everything else is sent; what is left may have reached SendGrid (a crash or a timeout
    mid-request). Say what settles it and when, rather than wait minutes in the foreground."""
    from newsletter.services.recovery import in_doubt

    batches, until = in_doubt(
        db,
        campaign_id,
        lease=timedelta(seconds=settings.lease_seconds),
        request=timedelta(seconds=settings.sendgrid_timeout),
        grace=timedelta(seconds=settings.webhook_grace_s),
    )
    if not batches or until is None:
        return
    console.print(
        f"{batches} batch(es) are in doubt: their request may have reached SendGrid. SendGrid's "
        f"events settle them as they arrive; whatever is still unproven at "
        f"{until:%Y-%m-%d %H:%M:%S} UTC follows the campaign's unknown-outcome policy "
        f"(held for review, or re-sent once the event feed has proved healthy). The engine "
        f"(`newsletter engine`) does this on its own; without it, run `newsletter campaign "
        f"send {campaign_id}` again after that time, or see `newsletter campaign review "
        f"{campaign_id}` then.",
        highlight=False,
        markup=False,
    )


def _say_waiting(report: CampaignReport) -> None:
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


def _event_processor(settings: Settings, db: Database) -> Callable[[], object] | None:
    """Process stored webhook events each tick, when the tracking service is available."""
    try:
        from newsletter.services.tracking import process_inbox
    except ImportError:  # pragma: no cover - the web layer ships with the product
        return None
    return lambda: process_inbox(db, key=settings.key_ring, now=datetime.now(UTC))
