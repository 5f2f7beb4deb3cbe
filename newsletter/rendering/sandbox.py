"""The sandbox marketer-editable templates run in: immutable, and bounded before it runs.

Jinja's `ImmutableSandboxedEnvironment` already refuses unsafe attributes and mutating
methods (`dict.update`, `list.append`: a template cannot rewrite the subject it was given).
This subclass also refuses, before Python computes them, the operations that would hold
the process in one C call or allocate gigabytes: large powers and products, repetitions
(`'A' * 10**10`), padding (`ljust`, `center`, format widths), joins and replacements whose
result is too big, oversized `range`/`batch`/`slice` counts. It counts every loop iteration
(one budget per render) and caps string concatenation (`~`). Anything left over (a slow
filter on big input, deep recursion) is caught by the worker process's hard deadline and
memory limit (`rendering.worker`). Every refusal is a `Refused`, reported as a TemplateError
naming the template file and line.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer


@dataclass(frozen=True)
class RenderLimits:
    max_output_bytes: int = 1_000_000  # a template's output, before MJML
    max_iterations: int = 100_000  # loop iterations in one render, every loop together
    max_items: int = 100_000  # length of a sequence built by the template
    max_int_bits: int = 10_000  # ~3,000 decimal digits


class Refused(SecurityError):
    """An operation the sandbox will not run (the message says which and why)."""


@dataclass
class _Budget:
    limits: RenderLimits
    iterations: int = field(default=0)


_BUDGET: ContextVar[_Budget] = ContextVar("newsletter_render_budget")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_SPEC_NUMBER = re.compile(r"\d+")


def budget() -> _Budget:
    try:
        return _BUDGET.get()
    except LookupError:  # rendering outside `render` (a test compiling a template): defaults
        return _Budget(RenderLimits())


def start_budget(limits: RenderLimits) -> Any:
    return _BUDGET.set(_Budget(limits))


def end_budget(token: Any) -> None:
    _BUDGET.reset(token)


def _string_cap() -> int:
    return budget().limits.max_output_bytes


def _check_length(length: int, what: str) -> None:
    cap = _string_cap()
    if length > cap:
        raise Refused(
            f"{what} would be {length:,} characters (templates may build at most {cap:,})"
        )


def _check_items(count: int, what: str) -> None:
    cap = budget().limits.max_items
    if count > cap:
        raise Refused(f"{what} would hold {count:,} items (at most {cap:,})")


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() + right.bit_length()
        if bits > budget().limits.max_int_bits:
            raise Refused(f"a product of {bits:,} bits is too large a number")
        return
    for sequence, times in ((left, right), (right, left)):
        size = _sized(sequence)
        if size is not None and isinstance(times, int):
            total = size * max(times, 0)
            if isinstance(sequence, str):
                _check_length(total, "a repeated string")
            else:
                _check_items(total, "a repeated list")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        bits = max(abs(base).bit_length(), 1) * exponent
        if abs(base) > 1 and bits > budget().limits.max_int_bits:
            raise Refused(f"a power of about {bits:,} bits is too large a number")


def _check_concat(left: Any, right: Any) -> None:
    if isinstance(left, str) and isinstance(right, str):
        _check_length(len(left) + len(right), "a joined string")
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        _check_items(len(left) + len(right), "a joined list")


def _check_printf(template: str, values: Any) -> None:
    for match in _PRINTF.finditer(template):
        for number in match.groups():
            if number == "*":
                raise Refused("`%*` widths are not allowed in templates")
            if number is not None:
                _check_length(int(number), "a %-format width")
    size = sum(len(str(v)) for v in values) if isinstance(values, tuple) else len(str(values))
    _check_length(len(template) + size, "a %-formatted string")


def _check_format_string(template: str) -> None:
    for _, _, spec, _ in string.Formatter().parse(template):
        if spec:
            if "{" in spec:
                raise Refused("nested `{}` widths are not allowed in templates")
            for number in _SPEC_NUMBER.findall(spec):
                _check_length(int(number), "a format width")


def _check_string_method(owner: str, name: str, args: tuple, kwargs: dict) -> None:
    def arg(index: int, keyword: str, default: Any) -> Any:
        return args[index] if len(args) > index else kwargs.get(keyword, default)

    if name in ("ljust", "rjust", "center", "zfill"):
        width = arg(0, "width", 0)
        if isinstance(width, int):
            _check_length(width, f"`{name}` padding")
    elif name == "expandtabs":
        size = arg(0, "tabsize", 8)
        if isinstance(size, int):
            _check_length(len(owner) + owner.count("\t") * max(size, 0), "`expandtabs`")
    elif name == "replace":
        _check_replace(owner, arg(0, "old", ""), arg(1, "new", ""), arg(2, "count", -1))
    elif name == "translate":
        table = arg(0, "table", {})
        longest = max((len(v) for v in getattr(table, "values", list)() if isinstance(v, str)),
                      default=1)  # fmt: skip
        _check_length(len(owner) * max(longest, 1), "`translate`")
    elif name in ("format", "format_map"):
        _check_format_string(owner)


def _check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _check_length(len(text) + found * max(len(new) - len(old), 0), "`replace`")


def _join(items: Iterable[Any], separator: str) -> list[Any]:
    listed = list(items)
    _check_items(len(listed), "a join")
    total = sum(len(str(item)) for item in listed) + len(separator) * max(len(listed) - 1, 0)
    _check_length(total, "a joined string")
    return listed


class _Bounds(NodeTransformer):
    """Every `for` iterates through the render budget; every `~` result is size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_nl_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_nl_size", [], [], None, None, lineno=node.lineno)


def _loop(iterable: Any) -> Iterator[Any]:
    state = budget()
    cap = state.limits.max_iterations
    for item in iterable:
        state.iterations += 1
        if state.iterations > cap:
            raise Refused(f"loops ran more than {cap:,} times in one email")
        yield item


def _size(value: Any) -> Any:
    if isinstance(value, str):
        _check_length(len(value), "a joined string")
    return value


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter wrapper checking the argument that can make its result huge (Jinja passes
    the eval context or environment first for some; `functools.wraps` keeps that mark)."""
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value, rest = (args[skip] if len(args) > skip else None), args[skip + 1 :]
        if name == "center":
            width = rest[0] if rest else kwargs.get("width", 80)
            if isinstance(width, int):
                _check_length(width, "`center` padding")
        elif name == "indent":
            width = rest[0] if rest else kwargs.get("width", 4)
            pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            lines = str(value).count("\n") + 1
            _check_length(len(str(value)) + lines * max(pad, 0), "`indent`")
        elif name == "format":
            _check_printf(str(value), rest)
        elif name == "replace":
            _check_replace(value, *(list(rest[:3]) + ["", "", -1][len(rest[:3]) :]))
        elif name in ("batch", "slice"):
            count = rest[0] if rest else kwargs.get("linecount" if name == "batch" else "slices")
            if isinstance(count, int):
                _check_items(count, f"`{name}`")
        elif name == "join":
            separator = rest[0] if rest else kwargs.get("d", "")
            if kwargs.get("attribute") is None and len(rest) < 2:
                args = (*args[:skip], _join(value or (), str(separator)), *rest)
        elif name == "tojson":
            indent = rest[0] if rest else kwargs.get("indent")
            if isinstance(indent, int) and indent > 16:
                raise Refused("`tojson` indent is at most 16")
        return original(*args, **kwargs)

    return bounded


_BOUNDED_FILTERS = ("center", "indent", "format", "replace", "batch", "slice", "join", "tojson")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment + operand checks, a loop budget and bounded filters."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in _BOUNDED_FILTERS:
            self.filters[name] = _bounded_filter(name, self.filters[name])
        self.filters["_nl_loop"] = _loop
        self.filters["_nl_size"] = _size
        self.globals.pop("lipsum", None)  # generates any amount of text on request
        self.globals["range"] = self._range

    @staticmethod
    def _range(*args: int) -> range:
        result = range(*args)
        _check_items(len(result), "a `range`")
        return result

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _Bounds().visit(super()._parse(source, name, filename))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "+":
            _check_concat(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        wrapped = getattr(__obj, "__wrapped__", None)  # str.format, wrapped by the sandbox
        if wrapped is not None and isinstance(getattr(wrapped, "__self__", None), str):
            owner, name = wrapped.__self__, wrapped.__name__
        else:
            name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name == "join" and args:
                args = (_join(args[0], owner), *args[1:])
            else:
                _check_string_method(owner, name, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)
