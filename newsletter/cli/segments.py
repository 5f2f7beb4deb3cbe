"""`newsletter segments list|show NAME|count NAME`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console
from newsletter.config import load_settings
from newsletter.services.segments import count_segment, get_segment, list_segments
from newsletter.storage.segment_sql import segment_count_query

segments_app = typer.Typer(help="Segments: files audiences/<name>.yaml.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
SegmentName = Annotated[str, typer.Argument(help="Segment name (the file stem).")]


@segments_app.command("list")
def segments_list() -> None:
    """List the segment files in the audiences folder."""
    folder = load_settings().audiences_dir
    entries = list_segments(folder)
    if not entries:
        console.print(f"No segments in {folder}/ (see docs/segments.md).", markup=False)
        return
    table = Table("name", "description")
    for entry in entries:
        text = escape(entry.description)
        if entry.error:
            text = f"[red]broken:[/] {escape(entry.error)}"
        table.add_row(escape(entry.name), text)
    console.print(table)


@segments_app.command("show")
def segments_show(name: SegmentName) -> None:
    """Show a segment's rules as parsed and the SQL they compile to."""
    from datetime import UTC, datetime

    settings = load_settings()
    segment = get_segment(settings.audiences_dir, name)
    console.print(f"Segment {segment.name}: {segment.description}", markup=False)
    console.print(f"Rule: {segment.rule!r}", markup=False, highlight=False)
    query = segment_count_query(segment.rule, now=datetime.now(UTC))
    console.print(str(query.compile(compile_kwargs={"literal_binds": False})), markup=False)


@segments_app.command("count")
def segments_count(name: SegmentName) -> None:
    """Count the subscribers in a segment and show how long it took."""
    settings = load_settings()
    segment = get_segment(settings.audiences_dir, name)
    with open_database(settings) as db:
        started = time.perf_counter()
        count = count_segment(db, segment)
        elapsed = time.perf_counter() - started
    console.print(f"{count} subscribers in {name} ({elapsed * 1000:.0f} ms)", markup=False)
