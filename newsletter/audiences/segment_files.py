"""Segment files: `audiences/<name>.yaml`, one segment per file, name = file stem.

Parsing walks the YAML node tree (not plain dicts) so every error names the file, the line
and the field. The format is documented in docs/segments.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from newsletter.audiences.segments import (
    ATTRIBUTE_OPERATORS,
    ENGAGEMENT_ACTIONS,
    All,
    Any_,
    AttributeCompare,
    DeclaredAttribute,
    Engaged,
    HasTag,
    HasTopic,
    InList,
    Not,
    Rule,
    Segment,
    SignedUpWithin,
    StatusIs,
    check_rule,
)
from newsletter.errors import NotFound, ValidationError

SEGMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TOP_LEVEL_KEYS = ("description", "rule")
LEAF_KEYS = (
    "topic",
    "tag",
    "list",
    "status",
    "signed_up_within_days",
    "opened_within_days",
    "clicked_within_days",
    "clicked_consultation_within_days",
    "never",
)
SEGMENT_FIX = "see docs/segments.md for the segment file format"

MAX_SEGMENT_FILE_BYTES = 1024 * 1024  # a rule is a few lines: anything larger is a mistake


def segment_path(audiences_dir: Path, name: str) -> Path:
    return audiences_dir / f"{name}.yaml"


def list_segment_files(audiences_dir: Path) -> list[Path]:
    """Segment files in the folder (attributes.yaml is the attribute declaration, not a segment)."""
    if not audiences_dir.is_dir():
        return []
    return sorted(p for p in audiences_dir.glob("*.yaml") if p.stem != "attributes" and p.is_file())


def load_segment(
    audiences_dir: Path, name: str, attributes: Mapping[str, DeclaredAttribute]
) -> Segment:
    """Load and check one segment by name, or raise NotFound / ValidationError."""
    path = segment_path(audiences_dir, name)
    if not SEGMENT_NAME.match(name) or name == "attributes" or not path.is_file():
        known = ", ".join(p.stem for p in list_segment_files(audiences_dir)) or "none"
        raise NotFound(
            f"unknown segment {name!r}",
            where=str(audiences_dir),
            fix=f"create {path} (known segments: {known})",
        )
    return parse_segment(path, attributes)


def parse_segment(path: Path, attributes: Mapping[str, DeclaredAttribute]) -> Segment:
    from newsletter.input_files import check_input_file

    check_input_file(path, max_bytes=MAX_SEGMENT_FILE_BYTES, kind="segment file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the segment file ({exc})", where=str(path)) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError(f"not valid YAML: {problem}", where=where, fix=SEGMENT_FIX) from None
    parser = _Parser(path)
    if root is None:
        return Segment(name=path.stem, rule=None)
    top = parser.mapping(root, "segment")
    for key, (key_node, _value) in top.items():
        if key not in TOP_LEVEL_KEYS:
            raise parser.error(key_node, key, f"unknown field {key!r}", "use description and rule")
    description = ""
    if "description" in top:
        description = str(parser.scalar(top["description"][1], "description") or "")
    rule = None
    if "rule" in top and not _is_null(top["rule"][1]):
        rule = parser.rule(top["rule"][1], "rule")
    try:
        checked = check_rule(rule, attributes)
    except ValidationError as exc:
        node, field = parser.locate(exc) if rule else (root, "rule")
        raise parser.error(node, field, exc.message, exc.fix or SEGMENT_FIX) from None
    return Segment(name=path.stem, rule=checked, description=description)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


class _Parser:
    """Turns YAML nodes into rules, remembering each rule's node for error messages."""

    def __init__(self, path: Path):
        self.path = path
        self.constructor = yaml.SafeLoader("")
        self.nodes: list[tuple[Rule, yaml.Node, str]] = []

    def error(self, node: yaml.Node, field: str, message: str, fix: str) -> ValidationError:
        where = f"{self.path}, line {node.start_mark.line + 1}, field `{field}`"
        return ValidationError(message, where=where, fix=fix)

    def locate(self, exc: ValidationError) -> tuple[yaml.Node, str]:
        """Best effort: the first attribute/status/engagement rule the message talks about."""
        for rule, node, field in self.nodes:
            if any(f"{v!r}" in exc.message for v in _names(rule)):
                return node, field
        rule, node, field = self.nodes[0]
        return node, field

    def scalar(self, node: yaml.Node, field: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, field, "expected a single value", SEGMENT_FIX)
        return self.constructor.construct_object(node, deep=True)

    def plain(self, node: yaml.Node, field: str) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, field: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, "expected a mapping (key: value)", SEGMENT_FIX)
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(self.scalar(key_node, field))
            if key in items:
                raise self.error(key_node, key, f"duplicate field {key!r}", "keep one")
            items[key] = (key_node, value_node)
        return items

    def rule(self, node: yaml.Node, field: str) -> Rule:
        items = self.mapping(node, field)
        rule = self._rule(node, items, field)
        self.nodes.append((rule, node, field))
        return rule

    def _rule(self, node: yaml.Node, items: dict, field: str) -> Rule:
        keys = list(items)
        if "attribute" in items:
            return self._attribute(node, items, field)
        if len(keys) != 1:
            raise self.error(
                node, field, f"a rule has exactly one key, found {keys}", "split it with `all:`"
            )
        key = keys[0]
        key_node, value = items[key]
        where = f"{field}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, yaml.SequenceNode):
                raise self.error(value, where, f"`{key}` takes a list of rules", SEGMENT_FIX)
            rules = tuple(self.rule(n, f"{where}[{i}]") for i, n in enumerate(value.value))
            return All(rules) if key == "all" else Any_(rules)
        if key == "not":
            return Not(self.rule(value, where))
        if key not in LEAF_KEYS:
            raise self.error(
                key_node,
                where,
                f"unknown rule {key!r}",
                "use all, any, not, attribute, " + ", ".join(LEAF_KEYS),
            )
        raw = self.plain(value, where)
        if key in ("topic", "tag", "list"):
            if not isinstance(raw, str):
                raise self.error(value, where, f"`{key}` takes a name", SEGMENT_FIX)
            return HasTopic(raw) if key == "topic" else HasTag(raw) if key == "tag" else InList(raw)
        if key == "status":
            statuses = raw if isinstance(raw, list) else [raw]
            return StatusIs(tuple(str(s) for s in statuses))
        if key == "never":
            if raw not in ENGAGEMENT_ACTIONS:
                raise self.error(
                    value, where, f"`never` takes one of {', '.join(ENGAGEMENT_ACTIONS)}", ""
                )
            return Engaged(raw, None)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise self.error(value, where, f"`{key}` takes a whole number of days", SEGMENT_FIX)
        if key == "signed_up_within_days":
            return SignedUpWithin(raw)
        return Engaged(key.removesuffix("_within_days"), raw)

    def _attribute(self, node: yaml.Node, items: dict, field: str) -> Rule:
        name = self.scalar(items["attribute"][1], f"{field}.attribute")
        operators = [k for k in items if k != "attribute"]
        if len(operators) != 1 or operators[0] not in ATTRIBUTE_OPERATORS:
            raise self.error(
                node,
                f"{field}.attribute",
                f"attribute rule for {name!r} needs exactly one operator, found {operators}",
                "use one of: " + ", ".join(ATTRIBUTE_OPERATORS),
            )
        operator = operators[0]
        value = self.plain(items[operator][1], f"{field}.{operator}")
        return AttributeCompare(str(name), operator, value)


def _names(rule: Rule) -> list[Any]:
    if isinstance(rule, AttributeCompare):
        return [rule.name, rule.value]
    if isinstance(rule, StatusIs):
        return list(rule.statuses)
    if isinstance(rule, Engaged):
        return [rule.action, rule.days]
    if isinstance(rule, SignedUpWithin):
        return [rule.days]
    return []
