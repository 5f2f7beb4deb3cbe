"""Declared subscriber attributes (`audiences/attributes.yaml`) and CSV cell coercion.

Only declared attributes are stored; other CSV columns are reported and dropped (minimum
necessary data, PD-1). Health-adjacent attributes are refused outright: segments come from
topics people chose themselves (PD-2), never from clinical status, and a clinic must not keep
health information in a marketing database at all (HIPAA; GDPR Art. 9).

File format::

    attributes:
      city:
        type: string          # string | number | boolean | date
        description: City the subscriber gave us, for local event invitations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, cast, get_args

import yaml

from newsletter.errors import ValidationError

AttributeType = Literal["string", "number", "boolean", "date"]
ATTRIBUTE_TYPES: tuple[str, ...] = get_args(AttributeType)

#: Built-in CSV columns; they are not attributes and cannot be declared as such.
RESERVED_COLUMNS: frozenset[str] = frozenset(
    {"email", "first_name", "last_name", "time_zone", "tags", "topics", "status", "lists"}
)
MAX_NAME_LENGTH = 64  # subscriber_attributes.name
MAX_TEXT_LENGTH = 1000  # subscriber_attributes.value_text
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_Fail = Callable[[yaml.Node, str, str], ValidationError]
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})

# Word stems (matched at the start of a word of the name or description) that mark health or
# sensitive identifying data. "medicine" is deliberately absent: it is part of the clinic's name.
_CLINICAL_STEMS: tuple[str, ...] = (
    "diagnos",
    "condition",
    "medicat",
    "medical",
    "meds",
    "prescri",
    "treat",
    "therap",
    "patient",
    "symptom",
    "dose",
    "dosage",
    "dosing",
    "overdose",
    "disorder",
    "illness",
    "disease",
    "depress",
    "anxiet",
    "anxious",
    "suicid",
    "ketamine",
    "esketamine",
    "spravato",
    "infusion",
    "psychiatr",
    "psycholog",
    "psychedelic",
    "bipolar",
    "schizo",
    "trauma",
    "addict",
    "rehab",
    "clinical",
    "allerg",
    "pregnan",
    "appointment",
    "insur",
    "referr",  # PD-1: no referral columns (a referral to the clinic is clinical)
    "birth",  # PD-1: no date of birth (birthday, birth_year, date_of_birth)
    "phone",  # PD-1: no phone numbers
    "drug",
    "hospital",
)
# Whole words only: too short to be safe as stems.
_CLINICAL_WORDS = frozenset({"ptsd", "hiv", "dob", "ssn", "mdd", "ocd", "adhd", "phi"})
_CLINICAL_PHRASES: tuple[str, ...] = ("mental health", "social security", "date of birth")


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    type: AttributeType
    description: str


def clinical_term(name: str) -> str | None:
    """The health-adjacent term `name` contains (an attribute name or description), or None.

    Words are split on anything but letters and digits, and on camelCase humps, so
    `medicationList`, `medication_list` and "Medication list" all match "medicat".
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    words = re.findall(r"[a-z0-9]+", spaced)
    joined = " ".join(words)
    for phrase in _CLINICAL_PHRASES:
        if f" {phrase} " in f" {joined} ":
            return phrase
    for word in words:
        if word in _CLINICAL_WORDS:
            return word
        for stem in _CLINICAL_STEMS:
            if word.startswith(stem):
                return stem
    return None


def coerce(spec: AttributeSpec, raw: str) -> object:
    """Convert a (trimmed) CSV cell to the attribute's type, or raise `ValueError` with a reason.

    number → int (whole numbers) or float; boolean → true/false/yes/no/1/0 (any case);
    date → `YYYY-MM-DD`; string → the text (single line, ≤ 1000 characters).
    """
    text = raw.strip()
    if spec.type == "string":
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"longer than {MAX_TEXT_LENGTH} characters")
        if _CONTROL.search(text):
            raise ValueError("contains a line break or control character")
        return text
    if spec.type == "number":
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            value = float(text)
            if math.isfinite(value):
                return value
        raise ValueError(f"{_shorten(text)!r} is not a number (write e.g. 12 or 3.5)")
    if spec.type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{_shorten(text)!r} is not true/false (also yes/no, 1/0)")
    if spec.type == "date":
        if _ISO_DATE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a real date") from None
        raise ValueError(f"{_shorten(text)!r} is not a date in the form YYYY-MM-DD")
    raise ValueError(f"unknown attribute type {spec.type!r}")  # pragma: no cover


def stored_value(spec: AttributeSpec | None, value: object) -> object:
    """A value read back from `subscriber_attributes` as its declared type: booleans (stored
    as 1.0 / 0.0) as True/False, whole numbers as int, dates as `date` (SQLite's driver gives
    ISO text). An attribute no longer declared keeps its value, whole numbers as int."""
    if value is None:
        return None
    kind = spec.type if spec is not None else None
    if kind == "boolean" and isinstance(value, int | float):
        return bool(value)
    if kind == "date" and isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return date.fromisoformat(value)
    if isinstance(value, float) and value.is_integer() and kind != "string":
        return int(value)
    return value


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_attributes(path: Path) -> dict[str, AttributeSpec]:
    """Read the attribute declarations. A missing or empty file declares none.

    Raises `ValidationError` naming the file, line and field, with a fix.
    """
    from newsletter.input_files import check_input_file

    if not path.exists() and not path.is_symlink():
        return {}
    check_input_file(path, max_bytes=1024 * 1024, kind="attribute declarations file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"not UTF-8 text ({error.reason} at byte {error.start})",
            where=str(path),
            fix="save the file as UTF-8",
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ValidationError(
            f"not valid YAML ({problem})",
            where=where,
            fix="check the indentation and quoting near that line",
        ) from None
    if root is None or _is_null(root):
        return {}

    def fail(node: yaml.Node, message: str, fix: str) -> ValidationError:
        return ValidationError(message, where=f"{path}:{node.start_mark.line + 1}", fix=fix)

    example = "attributes:\n  city:\n    type: string\n    description: City, for event invitations"
    if not isinstance(root, yaml.MappingNode):
        raise fail(root, "expected a mapping with the key `attributes`", f"write:\n{example}")
    section: yaml.Node | None = None
    for key, _key_node, value in _pairs(root, fail):
        if key != "attributes":
            raise fail(value, f"unknown key {key!r}", "the only top-level key is `attributes`")
        section = value
    if section is None or _is_null(section):
        return {}
    if not isinstance(section, yaml.MappingNode):
        raise fail(section, "`attributes` must be a mapping of name → declaration", example)

    specs: dict[str, AttributeSpec] = {}
    for name, name_node, decl in _pairs(section, fail):
        _check_name(name, name_node, fail)
        if not isinstance(decl, yaml.MappingNode):
            raise fail(
                decl,
                f"attribute {name!r}: expected `type` and `description`",
                f"write:\n  {name}:\n    type: string\n    description: what it is for",
            )
        fields: dict[str, tuple[str, yaml.Node]] = {}
        for field, _field_node, node in _pairs(decl, fail):
            if field not in ("type", "description"):
                raise fail(
                    node,
                    f"attribute {name!r}: unknown field {field!r}",
                    "an attribute has only `type` and `description`",
                )
            if not isinstance(node, yaml.ScalarNode) or _is_null(node):
                raise fail(node, f"attribute {name!r}: `{field}` must be text", f"set `{field}`")
            fields[field] = (str(node.value).strip(), node)
        if "type" not in fields:
            raise fail(
                name_node,
                f"attribute {name!r}: missing `type`",
                f"add `type:` with one of {', '.join(ATTRIBUTE_TYPES)}",
            )
        type_, type_node = fields["type"]
        if type_ not in ATTRIBUTE_TYPES:
            raise fail(
                type_node,
                f"attribute {name!r}: type {type_!r} is not one of {', '.join(ATTRIBUTE_TYPES)}",
                "use string, number, boolean or date",
            )
        description, description_node = fields.get("description", ("", name_node))
        if not description:
            raise fail(
                description_node,
                f"attribute {name!r}: missing `description`",
                "say in a few words what it is and why we keep it (data minimisation)",
            )
        term = clinical_term(description)
        if term is not None:
            raise fail(
                description_node,
                f"attribute {name!r}: the description mentions {term!r}, which reads as "
                "health or sensitive personal information",
                _CLINICAL_FIX,
            )
        specs[name] = AttributeSpec(name, cast(AttributeType, type_), description)
    return specs


_CLINICAL_FIX = (
    "remove it. Health-adjacent data (diagnoses, treatments, appointments, medications, "
    "insurance, dates of birth...) must never be stored in the newsletter database; segments "
    "come from topics people chose themselves (e.g. research-news, events). If the word is "
    "innocent here, rephrase it."
)


def _check_name(name: str, node: yaml.Node, fail: _Fail) -> None:
    term = clinical_term(name)
    if term is not None:
        raise fail(
            node,
            f"attribute {name!r} looks like health or sensitive personal information "
            f"(matches {term!r}) and cannot be declared",
            _CLINICAL_FIX,
        )
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise fail(
            node,
            f"attribute name {name!r} is not a lowercase identifier",
            f"use lowercase letters, digits and underscores, starting with a letter, "
            f"at most {MAX_NAME_LENGTH} characters (e.g. preferred_language)",
        )
    if name in RESERVED_COLUMNS:
        raise fail(
            node,
            f"{name!r} is a built-in column, not an attribute",
            f"remove it; built-in columns are {', '.join(sorted(RESERVED_COLUMNS))}",
        )


def _pairs(node: yaml.MappingNode, fail: _Fail) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) triples of a mapping; keys must be unique scalars."""
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise fail(key_node, "keys must be plain names", "use a plain name as the key")
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise fail(
                key_node,
                f"{key!r} is declared twice (first on line {seen[key]})",
                "keep one declaration",
            )
        seen[key] = line
        yield key, key_node, value_node


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
