"""The segment rule model: plain frozen dataclasses, independent of YAML, the web UI or SQL.

A segment selects subscribers with a tree of rules (`All`, `Any`, `Not` over leaf rules).
Rules only use self-declared interests, declared attributes, memberships and engagement,
never clinical status (PD-2). `check_rule` validates a tree against the declared attributes
and returns it with values converted to the attribute's type; storage compiles the result to
one SQL query (newsletter/storage/segment_sql.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal, Protocol, overload

from newsletter.domain.subscribers import SubscriberStatus
from newsletter.errors import ValidationError

ATTRIBUTE_OPERATORS = ("equals", "in", "contains", "exists", "gt", "lt", "before", "after")
ENGAGEMENT_ACTIONS = ("opened", "clicked", "clicked_consultation")
AttributeKind = Literal["text", "number", "date", "boolean"]

# Type names an attribute declaration may use, mapped to how values compare and are stored.
KIND_OF_TYPE: dict[str, AttributeKind] = {
    "string": "text",
    "str": "text",
    "text": "text",
    "choice": "text",
    "enum": "text",
    "email": "text",
    "url": "text",
    "number": "number",
    "integer": "number",
    "int": "number",
    "float": "number",
    "decimal": "number",
    "date": "date",
    "boolean": "boolean",
    "bool": "boolean",
}
OPERATORS_FOR_KIND: dict[AttributeKind, tuple[str, ...]] = {
    "text": ("equals", "in", "contains", "exists"),
    "number": ("equals", "in", "exists", "gt", "lt"),
    "date": ("equals", "in", "exists", "before", "after", "gt", "lt"),
    "boolean": ("equals", "exists"),
}


class DeclaredAttribute(Protocol):
    """What segments need from an attribute declaration (audiences/attributes.yaml)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Any_:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


@dataclass(frozen=True)
class HasTopic:
    topic: str


@dataclass(frozen=True)
class HasTag:
    tag: str


@dataclass(frozen=True)
class InList:
    list_name: str


@dataclass(frozen=True)
class StatusIs:
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class SignedUpWithin:
    days: int


@dataclass(frozen=True)
class Engaged:
    """`opened`/`clicked`/`clicked_consultation` within `days`, or never when `days` is None."""

    action: str
    days: int | None


@dataclass(frozen=True)
class AttributeCompare:
    name: str
    operator: str
    value: Any = None
    kind: AttributeKind | None = None  # filled in by check_rule


Rule = (
    All
    | Any_
    | Not
    | HasTopic
    | HasTag
    | InList
    | StatusIs
    | SignedUpWithin
    | Engaged
    | AttributeCompare
)


@dataclass(frozen=True)
class Segment:
    name: str
    rule: Rule | None  # None: everyone in scope
    description: str = ""


def mentions_status(rule: Rule | None) -> bool:
    """True if the rule decides status itself; otherwise segments keep only active people."""
    if isinstance(rule, All | Any_):
        return any(mentions_status(r) for r in rule.rules)
    if isinstance(rule, Not):
        return mentions_status(rule.rule)
    return isinstance(rule, StatusIs)


@overload
def check_rule(rule: Rule, attributes: Mapping[str, DeclaredAttribute]) -> Rule: ...
@overload
def check_rule(rule: None, attributes: Mapping[str, DeclaredAttribute]) -> None: ...
def check_rule(rule: Rule | None, attributes: Mapping[str, DeclaredAttribute]) -> Rule | None:
    """Validate a rule tree; return it with attribute values typed. Raises ValidationError."""
    if rule is None:
        return None
    if isinstance(rule, All | Any_):
        return replace(rule, rules=tuple(check_rule(r, attributes) for r in rule.rules))
    if isinstance(rule, Not):
        return Not(check_rule(rule.rule, attributes))
    if isinstance(rule, StatusIs):
        known = {s.value for s in SubscriberStatus}
        for status in rule.statuses:
            if status not in known:
                raise ValidationError(
                    f"unknown status {status!r}", fix="use one of: " + ", ".join(sorted(known))
                )
        return rule
    if isinstance(rule, SignedUpWithin | Engaged):
        days = rule.days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ValidationError(f"days must be a whole number ≥ 0, not {days!r}")
        if isinstance(rule, Engaged) and rule.action not in ENGAGEMENT_ACTIONS:
            raise ValidationError(
                f"unknown engagement {rule.action!r}", fix="use " + ", ".join(ENGAGEMENT_ACTIONS)
            )
        return rule
    if isinstance(rule, AttributeCompare):
        return _check_attribute(rule, attributes)
    if isinstance(rule, HasTopic | HasTag | InList):
        value = next(iter(vars(rule).values()))
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"expected a name, got {value!r}")
        return rule
    raise ValidationError(f"unknown rule {rule!r}")


def _check_attribute(
    rule: AttributeCompare, attributes: Mapping[str, DeclaredAttribute]
) -> AttributeCompare:
    spec = attributes.get(rule.name)
    if spec is None:
        declared = ", ".join(sorted(attributes)) or "none"
        raise ValidationError(
            f"unknown attribute {rule.name!r}",
            fix=f"declare it in audiences/attributes.yaml or use a declared one ({declared})",
        )
    kind = KIND_OF_TYPE.get(str(spec.type).lower(), "text")
    if rule.operator not in OPERATORS_FOR_KIND[kind]:
        raise ValidationError(
            f"attribute {rule.name!r} is a {spec.type}; operator {rule.operator!r} does not apply",
            fix="use one of: " + ", ".join(OPERATORS_FOR_KIND[kind]),
        )
    if rule.operator == "exists":
        if not isinstance(rule.value, bool):
            raise ValidationError(f"attribute {rule.name!r}: `exists` takes true or false")
        return replace(rule, kind=kind)
    if rule.operator == "in":
        if not isinstance(rule.value, list | tuple) or not rule.value:
            raise ValidationError(f"attribute {rule.name!r}: `in` takes a non-empty list")
        value: Any = tuple(_typed(rule.name, spec.type, kind, v) for v in rule.value)
    else:
        value = _typed(rule.name, spec.type, kind, rule.value)
    if rule.operator == "contains" and not value:
        raise ValidationError(f"attribute {rule.name!r}: `contains` needs some text")
    return replace(rule, value=value, kind=kind)


def _typed(name: str, type_name: str, kind: AttributeKind, value: Any) -> Any:
    wrong = ValidationError(
        f"attribute {name!r} is a {type_name}; {value!r} is not a {type_name} value",
        fix={
            "date": "write dates as YYYY-MM-DD",
            "number": "write a number without quotes",
            "boolean": "write true or false",
            "text": "write text (quote it if it looks like a number or date)",
        }[kind],
    )
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise wrong
        return str(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise wrong
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise wrong from None
    raise wrong
