"""`newsletter X` imports only X's module: the map from command to module must stay complete."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main

from newsletter.cli import COMMAND_MODULES, load


def _callback_modules(command: click.Command) -> set[str]:
    found = {command.callback.__module__} if command.callback is not None else set()
    for sub in getattr(command, "commands", {}).values():
        found |= _callback_modules(sub)
    return found


def test_every_command_is_mapped_to_the_module_that_defines_it():
    commands = typer.main.get_command(load()).commands
    assert set(commands) == set(COMMAND_MODULES)
    for name, command in commands.items():
        assert _callback_modules(command) == {f"newsletter.cli.{COMMAND_MODULES[name]}"}, name


def test_a_subscribers_command_does_not_import_the_renderer_the_web_app_or_sendgrid():
    probe = (
        "import sys, typer.main\n"
        "from newsletter.cli import load\n"
        "assert 'subscribers' in typer.main.get_command(load('subscribers')).commands\n"
        "heavy = ['newsletter.web', 'newsletter.rendering', 'sendgrid', 'mjml', 'fastapi']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_console_script_module_imports_nothing_of_the_cli():
    """Reader processes of an import re-import the main script; it must stay cheap."""
    probe = (
        "import sys, newsletter.__main__\n"
        "heavy = ('newsletter.cli', 'typer', 'sqlalchemy')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
