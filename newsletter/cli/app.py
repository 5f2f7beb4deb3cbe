"""The Typer application, the consoles, and the single error-to-exit-code mapping."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from newsletter.errors import NewsletterError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="newsletter",
    help="Clinic newsletters: articles to email, audiences, crash-safe sending.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Clinic newsletters: articles to email, audiences, crash-safe sending."""
    # A callback keeps `newsletter` a group even when only one command is loaded
    # (`cli.load`): Typer runs a lone command as the whole app, so `serve` became an argument.


console = Console()
err_console = Console(stderr=True)


def fail(error: NewsletterError) -> None:
    """Print a user-facing error (what, where, how to fix) without a traceback."""
    err_console.print(Text("Error: ", style="bold red") + Text(str(error)), soft_wrap=True)


def run(typer_app: typer.Typer) -> int:
    """Run the app; usage errors exit 2 (click's own handling), NewsletterErrors exit 2."""
    try:
        typer_app(standalone_mode=True)
    except NewsletterError as error:
        fail(error)
        return EXIT_BAD_INPUT
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_BAD_INPUT)
    return EXIT_OK
