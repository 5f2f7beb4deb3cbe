"""The `newsletter` command. Thin: parse arguments, call a service, print.

Each command group lives in its own module and registers itself on `app`; errors are turned
into messages and exit codes in one place (`run`): 0 ok, 1 a check failed, 2 bad input.
`main` imports only the module of the command on the command line: all of them import the
renderer, the web app and SendGrid (~1 s and ~8 MB that `newsletter subscribers import` has
no use for); `load()` without a command imports them all (help, unknown commands, tests).
"""

from __future__ import annotations

import importlib
import sys

import typer

from newsletter.cli.app import app, console, err_console, run  # noqa: F401  (re-exported)

# In registration order, which is the order of `newsletter --help`.
COMMAND_MODULES = {
    "render": "content",
    "check": "content",
    "preview": "content",
    "demo": "demo",
    "db": "db",
    "lists": "lists",
    "segments": "segments",
    "subscribers": "subscribers",
    "audit": "audit",
    "users": "users",
    "articles": "articles",
    "secret": "secret",
    "campaign": "campaigns",
    "emulator": "emulator",
    "events": "events",
    "serve": "serve",
    "engine": "engine",
    "worker": "engine",
}


def load(command: str | None = None) -> typer.Typer:
    """`app` with `command` registered, or with every command (None, or not a command)."""
    module = COMMAND_MODULES.get(command or "")
    for name in [module] if module else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"newsletter.cli.{name}")
    return app


def main() -> None:
    arguments = sys.argv[1:]
    sys.exit(run(load(arguments[0] if arguments else None)))


__all__ = ["COMMAND_MODULES", "app", "load", "main", "typer"]
