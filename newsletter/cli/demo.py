"""`newsletter demo`: the web app with the admin, the engine and the SendGrid emulator on
this machine, with sample data and two accounts (newsletter/demo/, docs/demo.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.app import app, console


@app.command("demo")
def demo(
    port: Annotated[
        int,
        typer.Option(
            "--port", help="Web app port on 127.0.0.1 (0: any free port).", min=0, max=65535
        ),
    ] = 8000,
    emulator_port: Annotated[
        int,
        typer.Option(
            "--emulator-port", help="SendGrid emulator port (0: any free port).", min=0, max=65535
        ),
    ] = 3030,
    folder: Annotated[
        Path, typer.Option("--dir", help="The demo's folder: database, keys, logs.")
    ] = Path("demo"),
    code: Annotated[
        bool, typer.Option("--code", help="Print the demo admin's current sign-in code and exit.")
    ] = False,
) -> None:
    """Run the whole product locally: the admin, the engine and the SendGrid emulator, with
    the sample audience, the seed article as a campaign draft, an admin and a marketer.
    Ctrl-C stops it all; a second run reuses the folder."""
    import newsletter.demo as demo_service

    if code:
        value, seconds = demo_service.current_code(folder)
        console.print(f"{value}  (valid for {seconds} more s)", highlight=False, markup=False)
        return
    options = demo_service.Options(folder=folder, port=port, emulator_port=emulator_port)
    status = demo_service.run(
        options, lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True)
    )
    if status:
        raise typer.Exit(status)
