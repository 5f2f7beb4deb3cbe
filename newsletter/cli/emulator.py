"""`newsletter emulator`: run the local SendGrid v3 emulator in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.app import app, err_console
from newsletter.emulator.config import DEFAULT_API_KEY, DEFAULT_SIGNING_SCALAR


@app.command("emulator")
def emulator(
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")
    ] = 3030,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="Accepted API key with the mail.send scope (repeatable)."),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Where to POST signed Event Webhook batches."),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log", help="Append-only JSONL log of accepted requests (default: temporary)."
        ),
    ] = None,
    signing_scalar: Annotated[
        int,
        typer.Option(
            "--signing-scalar", help="Integer that derives the webhook signing key (P-256)."
        ),
    ] = DEFAULT_SIGNING_SCALAR,
) -> None:
    """Run a local SendGrid v3 emulator (Mail Send, suppressions, signed webhook) until Ctrl-C.

    Prints one JSON line with base_url, log path and the webhook public key. Test-only control
    endpoints live under /_emulator/ (see docs/emulator.md).
    """
    from newsletter.emulator.config import EmulatorConfig
    from newsletter.emulator.server import serve

    keys = api_key or [DEFAULT_API_KEY]
    config = EmulatorConfig(
        api_keys={key: {"mail.send"} for key in keys},
        webhook_url=webhook_url,
        log_path=log,
        signing_scalar=signing_scalar,
    )
    err_console.print("Starting the SendGrid emulator (Ctrl-C to stop)…")
    serve(port, config)
