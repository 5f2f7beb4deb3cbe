"""The Typer application, the consoles, and the single error-to-exit-code mapping."""

from __future__ import annotations

import re
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from newsletter.errors import ConfigurationError, NewsletterError, ValidationError

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


# C0 and C1 control characters (but newline and tab), DEL, and the bidirectional overrides
# that reorder what a terminal shows (Trojan Source).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with control characters shown as escapes: input (a CSV header, a name) must
    not drive the terminal (ANSI colours, OSC 8 links, a cleared screen, reversed text)."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


class SafeConsole(Console):
    """A console that escapes control characters in every string it renders (printed text
    and table cells alike); rich's own styling is added later and is not affected."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


def fail(error: NewsletterError) -> None:
    """Print a user-facing error (what, where, how to fix) without a traceback."""
    message = Text("Error: ", style="bold red") + Text(printable(str(error)))
    err_console.print(message, soft_wrap=True)


def _edge_error(error: Exception) -> NewsletterError | None:
    """Failures from below that are the user's to fix, as messages: a file that cannot be
    read or written, a database that went away or stayed locked during a command."""
    if isinstance(error, OSError) and error.filename is not None:
        return ValidationError(
            f"cannot use this path ({error.strerror or error})",
            where=str(error.filename),
            fix="check that the path exists, is the right kind (a file or a folder) and that "
            "this user may read or write it",
        )
    if type(error).__module__.startswith("sqlalchemy"):
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
        return ConfigurationError(
            f"the database could not be used ({detail})",
            where="NEWSLETTER_DATABASE_URL",
            fix="check that the database is reachable and not locked by another program, "
            "then run the command again (completed steps are kept)",
        )
    return None


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
    except Exception as error:
        mapped = _edge_error(error)
        if mapped is None:
            raise
        fail(mapped)
        return EXIT_BAD_INPUT
    return EXIT_OK
