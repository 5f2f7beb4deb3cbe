"""The reference never drifts from the code, both ways: every command and setting is
documented, and every `newsletter …` command line shown in README.md and docs/*.md exists,
with options that exist on that command."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from newsletter.cli import load
from newsletter.config import Settings
from newsletter.config_files import env_name
from tests.seed import REPO

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "sh", "bash", "shell", "console"}
_FENCE = re.compile(r"^\s*```\s*([\w-]*)\s*$")
_SPAN = re.compile(r"`([^`\n]+)`")
_OPTION = re.compile(r"^(--[a-z0-9][a-z0-9-]*|-[a-zA-Z])$")
_SEPARATOR = re.compile(r"^[();<>|&$]+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_ELLIPSIS = ("…", "...")


def _docs() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOC_FILES)


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


# --- and the other way: what the docs show exists ------------------------------------------


def command_lines(text: str, source: str = "") -> Iterator[tuple[str, list[str]]]:
    """(where, words after `newsletter`) for each command line in Markdown `text`: shell
    lines in code blocks (prompts, env assignments, `$(…)` and pipes understood), and inline
    code spans that start with `newsletter `."""
    language: str | None = None
    pending = ""
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence:
            language = fence.group(1) if language is None else None
            continue
        where = f"{source}:{number}"
        if language is not None:
            if language not in SHELL_BLOCKS:
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield from ((where, words) for words in _shell_commands(pending + line))
            pending = ""
            continue
        for span in _SPAN.findall(line):
            if re.match(r"newsletter(\s|$)", span):
                yield where, span.replace("\\|", "|").split()[1:]


def _shell_commands(line: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(line.strip().removeprefix("$ "), posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote in prose-like output: not a command
        return
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if _SEPARATOR.match(token):
            while segment and (_ASSIGNMENT.match(segment[0]) or segment[0] == "export"):
                segment.pop(0)
            if segment and segment[0].rsplit("/", 1)[-1] == "newsletter":
                yield segment[1:]
            segment = []
        else:
            segment.append(token)


def problem(root: Any, words: list[str]) -> str | None:
    """Why `newsletter WORDS` does not exist as written, or None. Placeholders (`…`, `ID`,
    `COMMAND`) are fine; every option must be one of the command's own."""
    command, path, index = root, ["newsletter"], 0
    while hasattr(command, "commands"):  # a group (Typer vendors its own click)
        if index == len(words) or words[index] in _ELLIPSIS or words[index].isupper():
            return None  # a group named as a whole: `newsletter campaign …`, `COMMAND`
        word = words[index]
        if "|" in word:  # `newsletter render|check|preview`: each one, with the rest
            for choice in word.split("|"):
                issue = problem(root, [*words[:index], choice, *words[index + 1 :]])
                if issue:
                    return issue
            return None
        if word.startswith("-"):
            if word != "--help":
                return f"`{' '.join(path)}` has no option {word}"
            return None
        found = command.commands.get(word)
        if found is None:
            return f"`{' '.join(path)}` has no command {word!r}"
        command, index = found, index + 1
        path.append(word)
    options = _options(command)
    for word in words[index:]:
        name = word.strip("[]()").split("=", 1)[0]
        if _OPTION.match(name) and name not in options:
            known = ", ".join(sorted(options))
            return f"`{' '.join(path)}` has no option {name} (it has {known})"
    return None


def test_every_command_line_in_the_docs_exists_with_its_options():
    root = typer.main.get_command(load())
    found, problems = 0, []
    for path in DOC_FILES:
        for where, words in command_lines(path.read_text(encoding="utf-8"), path.name):
            found += 1
            issue = problem(root, words)
            if issue:
                problems.append(f"{where}: {issue}")
    assert found >= 60, found  # the README's recipe, docs/cli.md, docs/sending.md, …
    assert not problems, "\n".join(problems)


def test_the_doc_checker_catches_what_does_not_exist():
    root = typer.main.get_command(load())
    markdown = "\n".join([
        "Run `newsletter campaign schedule 1 --when 9am` or `newsletter campagne list`.",
        "```sh",
        'ID=$(newsletter campaign create --article a.txt --segment everyone | tail -1)',
        "NEWSLETTER_BATCH_SIZE=5 newsletter campaign send $ID --quick  # comment --nope",
        "newsletter subscribers add a@b.example \\",
        "    --consent yes --colour red",
        "```",
        "```text",
        "newsletter nothing-checked-here --at-all",
        "```",
        "`newsletter campaign …`, `newsletter COMMAND --help`, `newsletter --help`",
        "`newsletter render|check|preview --port 1` and `newsletter render|chek`",
    ])  # fmt: skip
    found = [(where, problem(root, words)) for where, words in command_lines(markdown, "x.md")]
    assert found == [
        ("x.md:1", "`newsletter campaign schedule` has no option --when"
                   " (it has --at, --help, --tz)"),
        ("x.md:1", "`newsletter` has no command 'campagne'"),
        ("x.md:3", None),
        ("x.md:4", "`newsletter campaign send` has no option --quick"
                   " (it has --help, --yes, -y)"),
        ("x.md:6", "`newsletter subscribers add` has no option --colour (it has "
                   + ", ".join(sorted(_options(root, "subscribers", "add"))) + ")"),
        ("x.md:11", None),
        ("x.md:11", None),
        ("x.md:11", None),
        ("x.md:12", "`newsletter render` has no option --port (it has "
                    + ", ".join(sorted(_options(root, "render"))) + ")"),
        ("x.md:12", "`newsletter` has no command 'chek'"),
    ]  # fmt: skip


def _options(command: Any, *names: str) -> set[str]:
    """The options (not arguments) of `command`, or of its subcommand `names`."""
    for name in names:
        command = command.commands[name]
    return {"--help"} | {
        name
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }


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
