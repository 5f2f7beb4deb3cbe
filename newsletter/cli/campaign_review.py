"""`newsletter campaign review ID`: the batches held for review, with their evidence, and
`--accept` / `--resend` to resolve them (services/review.py, which the web admin calls too)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import typer
from rich.table import Table

from newsletter.cli.app import EXIT_BAD_INPUT, console
from newsletter.errors import ValidationError


def _batch_ids(values: list[str]) -> list[int]:
    """`12 13`, `12,13`: batch ids as the review listing shows them."""
    ids = []
    for value in values:
        for part in filter(None, value.split(",")):
            if not part.strip().isdigit():
                raise ValidationError(
                    f"{part!r} is not a batch id",
                    where="BATCH arguments",
                    fix="give the numeric ids from the Batch column of the review listing",
                )
            ids.append(int(part))
    return ids


def run_review(
    campaign_id: int,
    batches: list[str],
    *,
    accept: bool,
    resend: bool,
    yes: bool,
    as_: str | None,
    as_json: bool,
) -> None:
    """The body of `newsletter campaign review` (declared in campaigns.py)."""
    from newsletter.services import review as service

    ids = _batch_ids(batches)
    if accept and resend:
        raise ValidationError("choose one of --accept and --resend", where="--accept/--resend")
    if ids and not (accept or resend):
        raise ValidationError(
            "batch ids given without a decision",
            where="BATCH arguments",
            fix=f"add --accept or --resend, e.g. `newsletter campaign review {campaign_id} "
            f"--accept {ids[0]}`",
        )
    if (accept or resend) and not ids:
        raise ValidationError(
            "no batch given",
            where="--accept/--resend",
            fix=f"name the batches, e.g. `newsletter campaign review {campaign_id} --accept 12`",
        )
    from newsletter.bootstrap import open_database
    from newsletter.config import load_settings

    with open_database(load_settings()) as db:
        if not (accept or resend):
            _show(service.list_needs_review(db, campaign_id), campaign_id, as_json)
            return
        actor = _actor(db, as_)
        if resend:
            console.print(service.RESEND_RISK, highlight=False, markup=False, soft_wrap=True)
            if not yes:
                if not sys.stdin.isatty():
                    raise ValidationError(
                        "resending needs a confirmation",
                        where="--resend",
                        fix="run it in a terminal to confirm, or add --yes in scripts",
                    )
                if not typer.confirm(f"Resend batch(es) {', '.join(map(str, ids))}?"):
                    raise typer.Exit(EXIT_BAD_INPUT)
        decide = service.resend if resend else service.accept
        count = decide(db, campaign_id, ids, actor=actor, now=datetime.now(UTC))
        with db.read() as conn:
            from newsletter.storage.campaign_store import get_campaign

            status = get_campaign(conn, campaign_id).status
    verb = "queued to be sent again" if resend else "recorded as sent"
    console.print(
        f"{len(ids)} batch(es), {count} recipient(s) {verb}. Campaign {campaign_id} is {status}.",
        highlight=False,
    )
    if resend:
        console.print(
            f"Run `newsletter campaign send {campaign_id}` or let the engine send them.",
            highlight=False,
        )


def _actor(db, as_: str | None) -> str:  # type: ignore[no-untyped-def]
    if as_ is None:
        from newsletter.cli.articles import cli_actor

        return cli_actor()
    from newsletter.accounts.roles import Action
    from newsletter.accounts.service import actor_for

    return actor_for(db, as_, Action.CAMPAIGNS_SEND).audit_name


def _show(held, campaign_id: int, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(json.dumps([batch.as_dict() for batch in held], indent=2))
        return
    if not held:
        console.print(f"Campaign {campaign_id} has no batch held for review.", highlight=False)
        return
    table = Table(
        "Batch", "Recipients", "In doubt since", "Attempts", "Provider events", "Last error",
        title=f"Campaign {campaign_id}: {len(held)} batch(es) held for review",
    )  # fmt: skip
    for batch in held:
        attempts = "\n".join(
            f"#{a.attempt} {a.worker}: requested "
            + (f"{a.requested_at:%Y-%m-%d %H:%M:%S}" if a.requested_at else "never")
            + (f", HTTP {a.http_status}" if a.http_status else ", no HTTP answer")
            + (f", {a.outcome}" if a.outcome else "")
            + (f" ({a.detail})" if a.detail else "")
            for a in batch.attempts
        )
        events = ", ".join(f"{k} {v}" for k, v in batch.events.items()) or "none seen"
        since = f"{batch.unknown_at:%Y-%m-%d %H:%M:%S}" if batch.unknown_at else ""
        table.add_row(
            str(batch.id), str(batch.recipients), since, attempts, events, batch.last_error or ""
        )
    console.print(table)
    console.print(
        f"Decide: `newsletter campaign review {campaign_id} --accept BATCH…` if the provider "
        f"sent them (its activity log), or `--resend BATCH…` to send them again.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
