"""`newsletter subscribers add|show|edit|import|export|unsubscribe|resubscribe|tag|erase|
gdpr-export|confirm|send-confirmations`: parse options, call a service, print the outcome."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from newsletter.audiences.attributes import stored_value
from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console, err_console
from newsletter.config import Settings, load_settings
from newsletter.errors import ValidationError
from newsletter.services import double_opt_in, exports, imports, privacy, subscribers
from newsletter.services import suppressions as suppression_service
from newsletter.services.segments import declared_attributes, get_segment

subscribers_app = typer.Typer(help="Subscribers: add, import, export, erase…", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")

Email = Annotated[str, typer.Argument(help="The subscriber's email address.")]
ListName = Annotated[str | None, typer.Option("--list", help="List name.")]
Consent = Annotated[
    str, typer.Option("--consent", help="The exact consent wording the person agreed to.")
]
Attr = Annotated[
    list[str] | None, typer.Option("--attr", help="Declared attribute as name=value (repeatable).")
]
FirstName = Annotated[str | None, typer.Option("--first-name")]
LastName = Annotated[str | None, typer.Option("--last-name")]
TimeZone = Annotated[str | None, typer.Option("--time-zone", help="IANA zone, America/New_York.")]


def staff_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _attrs(pairs: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValidationError(
                f"--attr {pair!r} is not name=value", fix="e.g. --attr city=Boston"
            )
        values[name.strip()] = value
    return values


def _key() -> tuple:
    settings = load_settings()
    return settings, settings.key_ring


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


@subscribers_app.command("add")
def add(
    email: Email,
    consent: Consent,
    list_name: ListName = None,
    consent_confirmed: Annotated[
        bool, typer.Option("--consent-confirmed", help="Consent was confirmed elsewhere.")
    ] = False,
    first_name: FirstName = None,
    last_name: LastName = None,
    time_zone: TimeZone = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic", help="Topic (repeatable).")] = None,
    attr: Attr = None,
) -> None:
    """Add one person (staff entry). Into a double opt-in list they stay pending until they
    confirm the email sent through the delivery backend (queued and retried on failure)."""
    settings, key = _key()
    with open_database(settings) as db:
        _id, status = subscribers.add_subscriber(
            db, key=key, email=email, consent_text=consent, staff_user=staff_user(),
            list_name=list_name, consent_confirmed=consent_confirmed, first_name=first_name,
            last_name=last_name, time_zone=time_zone, tags=tag or (), topics=topic or (),
            attributes=_attrs(attr), specs=declared_attributes(settings.audiences_dir),
        )  # fmt: skip
        _say(f"Added {email.strip().lower()} ({status}).")
        if status == "pending" and list_name:
            from newsletter.bootstrap import delivery_backend

            outcome = double_opt_in.request_confirmation(
                db, settings, email=email, list_name=list_name, consent_text=consent,
                source=f"staff:{staff_user()}", first_name=first_name,
                backend=delivery_backend(settings),
            )  # fmt: skip
            if outcome.delivery is not None:
                _say(_delivery_text(settings, outcome.delivery))


def _delivery_text(settings: Settings, delivery: Any) -> str:
    """What became of a confirmation email, in one line."""
    backend = settings.delivery_backend
    if delivery.status == "sent" and backend == "outbox":
        return f"Confirmation email written to {settings.outbox_dir / delivery.send_id}.eml."
    if delivery.status == "sent":
        return (f"Confirmation email sent through {backend} "
                f"(from {settings.transactional_sender_email}).")  # fmt: skip
    if delivery.status == "queued":
        return (f"Confirmation email queued: {backend} answered {delivery.detail}. It is "
                f"retried from {delivery.next_attempt_at:%H:%M:%S} UTC by `newsletter engine`, "
                "or now with `newsletter subscribers send-confirmations`.")  # fmt: skip
    return f"Confirmation email not sent ({delivery.status}): {delivery.detail}."


@subscribers_app.command("show")
def show(
    email: Email, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Show one subscriber: profile, lists, tags, topics, attributes."""
    settings = load_settings()
    with open_database(settings) as db:
        profile = subscribers.subscriber_profile(db, email)
    specs = declared_attributes(settings.audiences_dir)
    profile["attributes"] = {
        name: stored_value(specs.get(name), value) for name, value in profile["attributes"].items()
    }
    if as_json:
        _say(json.dumps(profile, default=_json_value, ensure_ascii=False, indent=2))
        return
    for line in profile_lines(profile):
        _say(line)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _instant(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def readable(value: object) -> str:
    """A value as a person writes it: dates ISO, whole numbers without `.0`, booleans
    true/false (as the CSV import and export write them), lists comma-separated."""
    if value is None or value == [] or value == {}:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value)
    return str(value)


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """`subscribers show` as aligned `label  value` lines, attributes indented below."""
    fields = [
        ("email", profile["email"]),
        ("id", profile["id"]),
        ("status", profile["status"]),
        ("first name", profile["first_name"]),
        ("last name", profile["last_name"]),
        ("time zone", profile["time_zone"]),
        ("signed up", profile["signed_up_at"]),
        ("updated", profile["updated_at"]),
        ("lists", [f"{name} ({status})" for name, status in profile["lists"].items()]),
        ("tags", profile["tags"]),
        ("topics", profile["topics"]),
    ]
    lines = [f"{label:<12} {readable(value)}" for label, value in fields]
    attributes = profile["attributes"]
    lines.append("attributes" + ("" if attributes else "   (none)"))
    width = max((len(name) for name in attributes), default=0)
    lines += [f"  {name:<{width}}  {readable(value)}" for name, value in attributes.items()]
    return lines


@subscribers_app.command("edit")
def edit(
    email: Email,
    first_name: FirstName = None,
    last_name: LastName = None,
    time_zone: TimeZone = None,
    attr: Attr = None,
) -> None:
    """Change profile fields (only the options given)."""
    settings = load_settings()
    with open_database(settings) as db:
        subscribers.edit_subscriber(
            db, email, first_name=first_name, last_name=last_name, time_zone=time_zone,
            attributes=_attrs(attr), specs=declared_attributes(settings.audiences_dir),
        )  # fmt: skip
    _say(f"Updated {email}.")


@subscribers_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row and an email column.")],
    list_name: Annotated[str, typer.Option("--list", help="List to import into.")],
    consent: Annotated[
        str | None, typer.Option("--consent", help="Exact consent wording (required).")
    ] = None,
    consent_confirmed: Annotated[
        bool, typer.Option("--consent-confirmed", help="Consent was confirmed elsewhere.")
    ] = False,
    encoding: Annotated[str | None, typer.Option("--encoding", help="e.g. cp1252.")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="`,` `;` or tab.")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Rejects CSV path.")] = None,
) -> None:
    """Import subscribers (idempotent; never resubscribes anyone who left)."""
    settings, key = _key()
    columns = [TextColumn("Importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with open_database(settings) as db, Progress(*columns, console=err_console) as progress:
        task = progress.add_task("import", total=None)
        summary = imports.import_subscribers(
            db, file, key=key, list_name=list_name, consent_text=consent or "",
            specs=declared_attributes(settings.audiences_dir), consent_confirmed=consent_confirmed,
            encoding=encoding, delimiter=delimiter, rejects_path=rejects, staff_user=staff_user(),
            progress_cb=lambda done, total: progress.update(task, completed=done, total=total),
            max_bytes=settings.max_csv_bytes, max_row_bytes=settings.max_csv_row_bytes,
        )  # fmt: skip
    if summary.ignored_columns:
        _say("Ignored columns (not declared): " + ", ".join(summary.ignored_columns))
    if summary.resumed_after_line:
        _say(f"Resumed batch {summary.batch_id} after line {summary.resumed_after_line}.")
    _say(
        f"Imported into {summary.list_name!r} (batch {summary.batch_id}): "
        f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.skipped} skipped (unsubscribed/suppressed), {summary.rejected} rejected."
    )
    if summary.rejects_path:
        _say(f"Rejected rows with line and reason: {summary.rejects_path}")
    for warning in summary.warnings:
        _say(f"Warning: {warning}")


@subscribers_app.command("export")
def export(
    segment: Annotated[str | None, typer.Option("--segment", help="Only this segment.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Export subscribers as CSV (formula-safe), all or one segment."""
    settings = load_settings()
    chosen = get_segment(settings.audiences_dir, segment) if segment else None
    specs = declared_attributes(settings.audiences_dir)
    with open_database(settings) as db:
        if out is None:
            count = exports.export_subscribers(
                db, sys.stdout, specs=specs, segment=chosen, actor=f"staff:{staff_user()}"
            )
        else:
            with out.open("w", encoding="utf-8-sig", newline="") as handle:
                count = exports.export_subscribers(
                    db, handle, specs=specs, segment=chosen, actor=f"staff:{staff_user()}"
                )
    err_console.print(f"Exported {count} subscribers.", markup=False)


@subscribers_app.command("unsubscribe")
def unsubscribe(email: Email, list_name: ListName = None) -> None:
    """Unsubscribe from one list, or from everything (suppressed) without --list."""
    settings, key = _key()
    with open_database(settings) as db:
        suppression_service.unsubscribe(
            db, key=key, email=email, source=staff_user(), list_name=list_name
        )
    _say(f"Unsubscribed {email}" + (f" from {list_name}." if list_name else " (suppressed)."))


@subscribers_app.command("resubscribe")
def resubscribe(email: Email, consent: Consent, list_name: ListName = None) -> None:
    """Bring back someone who unsubscribed, with their new consent (never bounces/complaints).
    Without --list, restores the lists the global unsubscribe closed, as they were."""
    settings, key = _key()
    with open_database(settings) as db:
        active = suppression_service.resubscribe(
            db, key=key, email=email, consent_text=consent, source=staff_user(), list_name=list_name
        )
    _say(f"Resubscribed {email}; active on: {', '.join(active) or '(no list)'}.")


@subscribers_app.command("tag")
def tag(
    email: Email,
    add: Annotated[list[str] | None, typer.Option("--add", help="Tag to add.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Tag to remove.")] = None,
) -> None:
    """Add or remove tags."""
    with open_database() as db:
        result = subscribers.tag_subscriber(db, email, add=add or (), remove=remove or ())
    _say(f"Tags of {email}: {', '.join(result) or '(none)'}")


@subscribers_app.command("erase")
def erase(
    email: Email, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Erase a person (GDPR Art. 17): delete their data, keep a keyed-hash suppression."""
    if not yes and not typer.confirm(f"Erase all data about {email}? This cannot be undone"):
        raise typer.Abort()
    settings, key = _key()
    with open_database(settings) as db:
        done = privacy.erase_subscriber(db, key=key, email=email, source=f"staff:{staff_user()}",
                                        outbox_dir=settings.outbox_dir)  # fmt: skip
    _say(f"Erased {email}; a hashed suppression keeps the address from being mailed again.")
    _say(f"Redacted {done.raw_batches} stored webhook batch(es) and {done.texts} provider "
         f"message(s); deleted {len(done.emails)} outbox email(s); removed the person from "
         f"{len(done.reports)} rejects report(s).")  # fmt: skip
    _say("Purge by hand what the product does not own: exports and copies, logs, backups "
         "(docs/privacy.md).")  # fmt: skip


@subscribers_app.command("gdpr-export")
def gdpr_export(
    email: Email,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Everything stored about one person, as JSON (GDPR Art. 15/20)."""
    settings = load_settings()
    with open_database(settings) as db:
        data = privacy.gdpr_export(db, email, actor=f"staff:{staff_user()}",
                                   specs=declared_attributes(settings.audiences_dir))  # fmt: skip
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        err_console.print(f"Wrote {out}.", markup=False)


@subscribers_app.command("confirm")
def confirm(
    token: Annotated[str, typer.Argument(help="Token from the confirmation link.")],
) -> None:
    """Confirm a double opt-in (what the web link will do)."""
    settings = load_settings()
    with open_database(settings) as db:
        address = double_opt_in.confirm_subscription(db, settings, token)
    _say(f"Confirmed {address}: now active.")


@subscribers_app.command("send-confirmations")
def send_confirmations() -> None:
    """Send the double opt-in confirmation emails that are due (the engine does this on
    every tick); shows what is still queued."""
    from newsletter.bootstrap import delivery_backend
    from newsletter.services.confirmation_mail import send_due_confirmations
    from newsletter.storage import confirmation_queue

    settings = load_settings()
    with open_database(settings) as db:
        outcomes = send_due_confirmations(db, settings, delivery_backend(settings))
        with db.read() as conn:
            counts = confirmation_queue.counts(conn)
            upcoming = confirmation_queue.next_attempt(conn)
    done = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none due"
    _say(f"Confirmation emails this run: {done}.")
    waiting = counts.get("queued", 0)
    line = f"Queued: {waiting}" + (f", next attempt {upcoming:%Y-%m-%d %H:%M:%S} UTC"
                                    if upcoming else "")  # fmt: skip
    _say(line + f"; sent {counts.get('sent', 0)}, failed {counts.get('failed', 0)} in all.")
