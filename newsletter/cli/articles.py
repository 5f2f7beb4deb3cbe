"""`newsletter articles add|list|show`: the article library (the admin's Articles page uses
the same service, `services.article_library`)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.bootstrap import open_database
from newsletter.cli.app import app, console
from newsletter.errors import ValidationError

articles_app = typer.Typer(help="The article library: add, list, show.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")


def cli_actor() -> str:
    try:
        return f"staff:{getpass.getuser()}"
    except (KeyError, OSError):
        return "staff:cli"


@articles_app.command("add")
def add(
    source: Annotated[
        str, typer.Argument(help="A .txt/.md/.html file, an http(s) URL, or - for stdin.")
    ],
    format_: Annotated[
        str, typer.Option("--format", help="For stdin: auto, markdown, text or html.")
    ] = "auto",
) -> None:
    """Add an article to the library; prints its id alone on the last line."""
    from newsletter.config import load_settings
    from newsletter.services import article_library as library

    settings = load_settings()
    with open_database(settings) as db:
        if source == "-":
            data = sys.stdin.buffer.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(
                    "standard input is not UTF-8 text",
                    where="stdin",
                    fix="convert the article to UTF-8",
                ) from None
            # typer has already checked --format against the kinds add_paste takes.
            article_id = library.add_paste(
                db, text, kind=format_, site_url=settings.website_url, actor=cli_actor()
            )
        elif source.lower().startswith(("http://", "https://")):
            article_id = library.add_url(db, settings, source, actor=cli_actor())
        else:
            article_id = library.add_file(
                db, Path(source), site_url=settings.website_url, actor=cli_actor()
            )
        row = library.get_article(db, article_id)
    console.print(f"Added “{row.title}” ({row.format}).", highlight=False, markup=False)
    for warning in library.warnings_of(row):
        console.print(f"  warning: {warning}", highlight=False, markup=False)
    print(article_id)


@articles_app.command("list")
def list_(
    archived: Annotated[bool, typer.Option("--archived", help="Archived articles.")] = False,
) -> None:
    """Stored articles, newest first."""
    from newsletter.services import article_library as library

    with open_database() as db:
        rows = library.list_articles(db, archived=archived)
    table = Table("Id", "Title", "Format", "Source", "Warnings", "Added")
    for row in rows:
        table.add_row(
            str(row.id),
            row.title,
            row.format,
            f"{row.source_kind}: {row.source}",
            str(len(library.warnings_of(row))),
            f"{row.created_at:%Y-%m-%d}",
        )
    console.print(table, markup=False, highlight=False)


@articles_app.command("show")
def show(article_id: Annotated[int, typer.Argument(help="Article id.")]) -> None:
    """An article as the importer reads it: title, summary, sections, warnings."""
    from newsletter.config import load_settings
    from newsletter.services import article_library as library

    settings = load_settings()
    with open_database(settings) as db:
        row = library.get_article(db, article_id)
    article = library.parsed(row, site_url=settings.website_url)
    out = [
        f"# {article.title}",
        f"({row.format}, {row.source_kind}: {row.source}, {row.status})",
        "",
        article.preheader,
        "",
    ]
    for section in article.sections:
        if section.heading:
            out.append(f"## {section.heading}")
        out.append(f"  {len(section.blocks)} block(s)")
    for warning in library.warnings_of(row):
        out.append(f"warning: {warning}")
    console.print("\n".join(out), markup=False, highlight=False)
