"""`newsletter serve`: the web app (webhook intake, unsubscribe, opt-in confirmation)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.app import app, err_console


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Run the web app: event webhook, click redirect, unsubscribe, preference and
    confirmation pages, booking conversions.

    One uvicorn worker (start more processes behind a proxy if ever needed, never workers
    that each run a scheduler). Refuses to start on an outdated database schema.
    """
    from newsletter.bootstrap import open_database
    from newsletter.config import load_settings
    from newsletter.web.app import create_app, serve_app

    settings = load_settings()
    with open_database(settings) as db:  # raises SchemaOutdated → exit 2 with the fix
        if not settings.sendgrid_webhook_public_key:
            err_console.print(
                "Warning: NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set; "
                "POST /webhooks/sendgrid answers 503 until it is.",
                markup=False,
            )
        err_console.print(f"Serving on http://{host}:{port}/ (Ctrl-C to stop)…", markup=False)
        serve_app(create_app(settings, db), host=host, port=port)
