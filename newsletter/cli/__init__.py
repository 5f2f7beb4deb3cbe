"""The `newsletter` command. Thin: parse arguments, call a service, print.

Each command group lives in its own module and registers itself on `app`; errors are turned
into messages and exit codes in one place (`run`): 0 ok, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import sys

import typer

from newsletter.cli.app import app, console, err_console  # noqa: F401  (re-exported)

# Command modules register on import.
from newsletter.cli import content  # noqa: F401  isort: skip
from newsletter.cli import db, lists, segments, subscribers  # noqa: F401  isort: skip
from newsletter.cli import audit  # noqa: F401  isort: skip
from newsletter.cli import campaigns, emulator  # noqa: F401  isort: skip
from newsletter.cli import events, serve  # noqa: F401  isort: skip
from newsletter.cli import engine  # noqa: F401  isort: skip


def main() -> None:
    from newsletter.cli.app import run

    sys.exit(run(app))


__all__ = ["app", "main", "typer"]
