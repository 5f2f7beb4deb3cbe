"""Front matter as static-site generators write it: YAML (`---`), TOML (`+++`, Hugo) or a
JSON object at the top of the file (Hugo, Eleventy).

Only the parsing lives here (what the fields mean is `fields`). YAML is read with the safe
loader, so a tag like `!!python/object` can never construct anything; an error names the
line and column in the article file.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import yaml

from newsletter.errors import ArticleError

_YAML = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_TOML = re.compile(r"\A\+\+\+[ \t]*\n(.*?\n)?\+\+\+[ \t]*(?:\n|\Z)", re.S)
_JSON_START = re.compile(r'\A\{\s*"')
_FIX = "fix the front matter, or remove it and put the title in a `# heading`"


class _SafeLoader(yaml.SafeLoader):
    """The safe loader, and timestamps stay text (parsed by `fields`, zone and all)."""


_SafeLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """Any other tag (`!!python/object`, `!Ref`…) reads as the plain value it decorates."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)  # YAML has no fourth kind of node
    return loader.construct_mapping(node, deep=True)


_SafeLoader.add_multi_constructor("", _unknown_tag)
_SafeLoader.add_multi_constructor("!", _unknown_tag)
_SafeLoader.add_multi_constructor("tag:yaml.org,2002:python/", _unknown_tag)


def split_front_matter(text: str, *, where: str) -> tuple[dict[str, Any], str, list[str]]:
    """(fields, body, warnings) — ({}, text, []) without front matter."""
    for pattern, read in ((_YAML, _yaml), (_TOML, _toml)):
        match = pattern.match(text)
        if match:
            warnings: list[str] = []
            fields = read(match.group(1) or "", where=where, warnings=warnings)
            return fields, text[match.end() :], warnings
    if _JSON_START.match(text):
        decoder = json.JSONDecoder()
        try:
            value, end = decoder.raw_decode(text)
        except json.JSONDecodeError as exc:
            raise ArticleError(
                f"the JSON front matter is not valid JSON ({exc.msg})",
                where=f"{where}, line {exc.lineno}, column {exc.colno}",
                fix=_FIX,
            ) from None
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}, text[end:], []
    return {}, text, []


def _yaml(source: str, *, where: str, warnings: list[str]) -> dict[str, Any]:
    try:
        value = yaml.load(source, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        lenient = _lenient(source)
        place = f", line {mark.line + 2}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        start = getattr(exc, "context_mark", None)
        if start is not None and mark is not None and start.line != mark.line:
            problem += f"; the value starts on line {start.line + 2}, column {start.column + 1}"
        if lenient is not None:
            warnings.append(
                f"the front matter is not valid YAML{place.replace(', line', ' (line', 1)}"
                f"{')' if place else ''}: {problem}; it was read line by line as `key: value`"
                " (quote values that contain ': ' to silence this)"
            )
            return lenient
        raise ArticleError(
            f"the front matter is not valid YAML ({problem})",
            where=f"{where}{place}",
            fix="front matter is `key: value` lines between two `---` lines; quote values "
            'that contain a colon followed by a space, or start with [, {, *, & or "',
        ) from None
    except RecursionError:
        raise ArticleError(
            "the front matter is nested too deeply to read", where=where, fix=_FIX
        ) from None
    return _as_fields(value, where=where)


_KEY_LINE = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_ITEM_LINE = re.compile(r"^[ \t]+-[ \t]+(.*?)[ \t]*$")


def _lenient(source: str) -> dict[str, Any] | None:
    """Hand-written front matter that YAML refuses (`title: Anxiety: a guide`), read as
    `key: value` lines and `- item` lists; None when it has any other shape."""
    fields: dict[str, Any] = {}
    key = None
    for line in source.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM_LINE.match(line)
        if item and key is not None and isinstance(fields[key], list):
            fields[key].append(_scalar(item.group(1)))
            continue
        match = _KEY_LINE.match(line)
        if not match:
            return None
        key, value = match.group(1), match.group(2)
        if value is None or value == "":
            fields[key] = []
        elif value.startswith("[") and value.endswith("]"):
            fields[key] = [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
        elif value[0] in "[{&*!|>%@`":
            return None  # YAML syntax gone wrong, not a colon in a title
        else:
            fields[key] = _scalar(value)
    return fields or None


def _scalar(value: str) -> Any:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return {"true": True, "false": False}.get(value.lower(), value)


def _toml(source: str, *, where: str, warnings: list[str]) -> dict[str, Any]:
    try:
        value = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        place = re.search(r"\(at line (\d+), column (\d+)\)", message)
        at = f", line {int(place.group(1)) + 1}, column {place.group(2)}" if place else ""
        raise ArticleError(
            f"the TOML front matter is not valid ({message.split(' (at ')[0]})",
            where=f"{where}{at}",
            fix='TOML front matter is `key = "value"` lines between two `+++` lines',
        ) from None
    return _as_fields(value, where=where)


def _as_fields(value: Any, *, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArticleError(
            "the front matter must be `key: value` lines",
            where=f"{where}, line 2",
            fix="write fields like `title: My article`",
        )
    return {str(key): item for key, item in value.items()}
