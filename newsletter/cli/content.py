"""Content commands: render, check, preview (`newsletter demo` is in cli/demo.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.app import EXIT_CHECK_FAILED, app, console
from newsletter.config import load_settings
from newsletter.services.previews import SAMPLE_ADDRESS, Preview, preview_articles

Articles = Annotated[list[Path], typer.Argument(help="Article file(s): .txt, .md or .html.")]
Template = Annotated[str, typer.Option("--template", "-t", help="article, digest, or your own.")]
BaseUrl = Annotated[
    str | None, typer.Option("--base-url", help="Page URL for resolving relative links (HTML).")
]
Campaign = Annotated[
    str | None,
    typer.Option(
        "--campaign", help="Neutral campaign key for utm_campaign (default newsletter-YYYY-MM)."
    ),
]
Subject = Annotated[str | None, typer.Option("--subject", help="Subject (default: the title).")]
Subscriber = Annotated[
    str | None,
    typer.Option("--subscriber", help="Render for this subscriber (default: a sample person)."),
]


def _preview(
    articles: list[Path],
    template: str,
    base_url: str | None,
    campaign: str | None,
    subject: str | None,
    subscriber: str | None,
) -> Preview:
    settings = load_settings()
    recipient, to = None, None
    if subscriber:
        from newsletter.bootstrap import open_database
        from newsletter.services.previews import recipient_for

        with open_database(settings) as db:
            recipient, to = recipient_for(db, settings, subscriber)
    return preview_articles(
        articles,
        settings,
        template=template,
        base_url=base_url,
        campaign_key=campaign,
        subject=subject,
        recipient=recipient,
        to=to or SAMPLE_ADDRESS,
    )


@app.command()
def render(
    articles: Articles,
    template: Template = "article",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("."),
    base_url: BaseUrl = None,
    campaign: Campaign = None,
    subject: Subject = None,
    subscriber: Subscriber = None,
) -> None:
    """Render an article to email.html, email.txt and email.json, as a subscriber gets it."""
    preview = _preview(articles, template, base_url, campaign, subject, subscriber)
    out.mkdir(parents=True, exist_ok=True)
    (out / "email.html").write_text(preview.email.html, encoding="utf-8")
    (out / "email.txt").write_text(preview.email.text, encoding="utf-8")
    (out / "email.json").write_text(
        json.dumps(preview.summary(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    console.print(
        f"Wrote {out / 'email.html'} ({len(preview.email.html.encode()):,} bytes), "
        f"{out / 'email.txt'}, {out / 'email.json'}",
        highlight=False,
    )
    for warning in preview.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command()
def check(
    articles: Articles,
    template: Template = "article",
    base_url: BaseUrl = None,
    campaign: Campaign = None,
    subject: Subject = None,
) -> None:
    """Print the pre-send checklist; exit 1 if a check fails."""
    preview = _preview(articles, template, base_url, campaign, subject, None)
    table = Table(title=f"Checks for {', '.join(map(str, articles))}", show_lines=False)
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Detail", overflow="fold")
    style = {"ok": "[green]ok[/]", "warn": "[yellow]warning[/]", "fail": "[red]FAILED[/]"}
    for item in preview.checks:
        table.add_row(item.name, style[item.status], item.detail)
    console.print(table)
    if preview.failed:
        console.print(f"[red]{len(preview.failed)} check(s) failed.[/]")
        raise typer.Exit(EXIT_CHECK_FAILED)
    console.print("[green]All checks passed.[/]")


OptionalArticles = Annotated[
    list[Path] | None,
    typer.Argument(help="Article file(s): .txt, .md or .html (default: the sample article)."),
]


def _sample_article() -> Path:
    """The checkout's copy of the sample article when run from one (edits show on reload),
    else the one shipped with the package."""
    from newsletter.samples import SAMPLE_ARTICLE

    local = Path("articles") / SAMPLE_ARTICLE.name
    return local if local.is_file() else SAMPLE_ARTICLE


@app.command()
def preview(
    articles: OptionalArticles = None,
    template: Template = "article",
    base_url: BaseUrl = None,
    campaign: Campaign = None,
    subscriber: Subscriber = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write email.html/.txt/.json here (default without articles: out/).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the email on localhost: desktop and mobile frames and the text part. Without
    an article: the sample article, also rendered into out/ (what `demo` used to do)."""
    if not articles:
        articles = [_sample_article()]
        out = out or Path("out")
    if out is not None:
        render(articles=articles, template=template, out=out, base_url=base_url,
               campaign=campaign, subject=None, subscriber=subscriber)  # fmt: skip
    else:
        _preview(articles, template, base_url, campaign, None, subscriber)  # fail fast
    from newsletter.web.preview import serve_preview

    console.print(
        f"Preview at [bold]http://{host}:{port}/[/] (Ctrl-C to stop); "
        "edits to the article show on reload."
    )
    serve_preview(
        lambda: _preview(articles, template, base_url, campaign, None, subscriber),
        host=host,
        port=port,
    )
