"""The Typer application, the consoles, and the single error-to-exit-code mapping."""

from __future__ import annotations

import typer
from rich.console import Console

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
console = Console()
err_console = Console(stderr=True)


def fail(error: NewsletterError) -> None:
    """Print a user-facing error (what, where, how to fix) without a traceback."""
    err_console.print(f"[bold red]Error:[/] {error}", highlight=False, markup=True, soft_wrap=True)


def run(typer_app: typer.Typer) -> int:
    try:
        typer_app(standalone_mode=False)
    except NewsletterError as error:
        fail(error)
        return EXIT_BAD_INPUT
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("Aborted.")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return EXIT_BAD_INPUT
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        raise
    return EXIT_OK
