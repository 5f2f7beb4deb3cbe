"""The sandboxed Jinja environment for email templates that marketers may edit.

Autoescape for MJML, StrictUndefined everywhere, a flat, read-only context of plain values
(mappings and sequences frozen: a template cannot change the subject or anything else it is
given), the bounded sandbox (`sandbox.py`: operand checks, a loop budget, bounded filters),
an output cap, templates read only as regular files inside the templates folder (a symlink
out of it is refused), and errors that name the file, the line and what went wrong.

This module renders in the calling process; the product renders marketer-editable templates
through `rendering.isolated`, which runs this in a worker process with a hard deadline.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path
from markupsafe import Markup

from newsletter.errors import TemplateError
from newsletter.rendering.sandbox import (
    BoundedSandbox,
    Refused,
    RenderLimits,
    end_budget,
    start_budget,
)

MAX_TEMPLATE_BYTES = 256 * 1024


class RenderOutOfMemory(TemplateError):
    """The render hit the worker's memory limit: the worker answers, then is replaced."""


class _Loader(jinja2.BaseLoader):
    """Regular files inside `folder` only: no `..`, no symlink leading out, no devices."""

    def __init__(self, folder: Path):
        self.root = folder.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.root.joinpath(*split_template_path(template))  # refuses `..`
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            raise jinja2.TemplateNotFound(template) from None
        if not resolved.is_relative_to(self.root):
            raise TemplateError(
                "the template resolves outside the templates folder (a symlink?)",
                where=f"{path} → {resolved}",
                fix="copy the file into the templates folder instead of linking to it",
            )
        info = resolved.stat()
        if not stat.S_ISREG(info.st_mode):
            raise TemplateError("not a regular file", where=str(path),
                                fix="templates are plain text files")  # fmt: skip
        if info.st_size > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                f"template is larger than {MAX_TEMPLATE_BYTES // 1024} KB",
                where=str(path),
                fix="split it or remove embedded content",
            )
        with resolved.open("rb") as handle:
            data = handle.read(MAX_TEMPLATE_BYTES + 1)
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                where=str(path),
                fix="save the template as UTF-8",
            ) from None
        mtime = info.st_mtime_ns

        def uptodate() -> bool:
            try:
                return path.resolve(strict=True).stat().st_mtime_ns == mtime
            except OSError:
                return False

        return source, str(path), uptodate


@lru_cache(maxsize=8)
def environment(folder: Path) -> BoundedSandbox:
    return BoundedSandbox(
        loader=_Loader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml", "html"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )


class ReadOnlyDict(dict[str, Any]):
    """A dict no one can change: the sandbox refuses its mutating methods by name (as for
    every dict), and they raise here besides."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("the values given to templates are read-only")

    # Every mutator is replaced by the refusal on purpose: their signatures differ from it.
    __setitem__ = __delitem__ = update = pop = popitem = setdefault = clear = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]


def freeze(value: Any) -> Any:
    """Mappings become read-only dicts, lists tuples: what a template gets cannot change."""
    if isinstance(value, Markup | str):
        return value
    if isinstance(value, Mapping):
        return ReadOnlyDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def render(
    folder: Path, name: str, context: Mapping[str, Any], *, limits: RenderLimits | None = None
) -> str:
    """Render `name` with a frozen copy of `context`, within `limits`, or raise TemplateError."""
    limits = limits or RenderLimits()
    env = environment(folder.resolve())
    path = folder / name
    token = start_budget(limits)
    try:
        template = env.get_template(name)
        return _collect(template.generate(**freeze(context)), limits.max_output_bytes, path)
    except jinja2.TemplateNotFound as exc:
        available = sorted(p.name for p in folder.glob("*.mjml")) if folder.is_dir() else []
        raise TemplateError(
            f"template {exc.name!r} not found",
            where=str(folder),
            fix="choose one of: "
            + (
                ", ".join(p.removesuffix(".mjml") for p in available)
                or "(none: is NEWSLETTER_TEMPLATES_DIR right?)"
            ),
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}",
            where=f"{exc.filename or path}, line {exc.lineno}",
            fix="correct the Jinja tag at that line",
        ) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"unknown name: {exc.message}",
            where=_template_frame(exc, folder) or str(path),
            fix="use only the names documented in docs/templates.md, or add a default "
            "with `| default('…')`",
        ) from None
    except Refused as exc:
        raise TemplateError(
            f"refused: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="templates format the values they are given; they cannot build large "
            "amounts of text or numbers (docs/templates.md, limits)",
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(
            f"not allowed in templates: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="templates can only read the documented values, never change them",
        ) from None
    except RecursionError as exc:
        raise TemplateError(
            "a macro or include calls itself without end (recursion too deep)",
            where=_template_frame(exc, folder) or str(path),
            fix="make sure a recursive macro stops, and that no template includes itself",
        ) from None
    except MemoryError:
        raise RenderOutOfMemory(
            "the template needs more memory than a render may use",
            where=str(path),
            fix="templates format the values they are given; remove what builds large data",
        ) from None
    except TemplateError:
        raise
    except (TypeError, ValueError, ArithmeticError, LookupError, jinja2.TemplateError) as exc:
        raise TemplateError(
            f"template failed: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="check the expression at that line",
        ) from None
    except Exception as exc:  # untrusted code: whatever it raises is a template error
        raise TemplateError(
            f"template failed: {type(exc).__name__}: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="check the expression at that line",
        ) from None
    finally:
        end_budget(token)


def _collect(chunks: Any, cap: int, path: Path) -> str:
    """Join the rendered chunks, stopping as soon as the output passes `cap` bytes."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8", "replace"))
        if size > cap:
            raise TemplateError(
                f"the template wrote more than {cap:,} bytes",
                where=str(path),
                fix="an email is far smaller: look for a loop that repeats content "
                "(NEWSLETTER_RENDER_MAX_OUTPUT_BYTES sets the limit)",
            )
        out.append(chunk)
    return "".join(out)


def _template_frame(exc: BaseException, folder: Path) -> str | None:
    """The innermost template file and line in the traceback (Jinja rewrites frames)."""
    found = None
    tb = exc.__traceback__
    root = str(folder.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root) or filename.endswith((".mjml", ".txt")):
            found = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found
