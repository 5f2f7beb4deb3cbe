"""The reference never drifts from the code: every command and setting is documented."""

from pathlib import Path

import typer.main

from newsletter.cli import load
from newsletter.config import Settings, env_name
from tests.seed import REPO


def _docs() -> str:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def _command_paths(command, prefix: str):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from _command_paths(sub, f"{prefix} {name}")


def test_every_cli_command_is_documented():
    docs = _docs()
    paths = list(_command_paths(typer.main.get_command(load()), "newsletter"))[1:]
    assert len(paths) >= 4
    missing = [path for path in paths if f"`{path}" not in docs]
    assert not missing, f"undocumented commands (write them as `{missing[0]} …`): {missing}"


def test_every_command_has_help_text():
    root = typer.main.get_command(load())
    stack = list(root.commands.values())
    while stack:
        command = stack.pop()
        assert (command.help or "").strip(), f"{command.name} has no help text"
        stack.extend(getattr(command, "commands", {}).values())


def test_every_setting_is_documented():
    docs = _docs()
    missing = [env_name(name) for name in Settings.model_fields if env_name(name) not in docs]
    assert not missing, f"undocumented settings: {missing}"


def test_every_setting_has_a_description():
    assert all(field.description for field in Settings.model_fields.values())


def test_readme_quickstart_is_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert Path(REPO / "Makefile").exists()
