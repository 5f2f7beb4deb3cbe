"""The sandboxed Jinja environment for email templates that marketers may edit.

Autoescape for MJML, StrictUndefined everywhere, a flat context of plain values (never
models, settings or request objects), and errors that name the file, the line and the
missing name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from newsletter.errors import TemplateError

MAX_TEMPLATE_BYTES = 256 * 1024


class _Loader(jinja2.FileSystemLoader):
    def get_source(self, environment: jinja2.Environment, template: str):  # type: ignore[override]
        source, filename, uptodate = super().get_source(environment, template)
        if len(source.encode()) > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                f"template is larger than {MAX_TEMPLATE_BYTES // 1024} KB",
                where=filename,
                fix="split it or remove embedded content",
            )
        return source, filename, uptodate


@lru_cache(maxsize=8)
def environment(folder: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=_Loader(str(folder)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml", "html"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )


def render(folder: Path, name: str, context: Mapping[str, Any]) -> str:
    env = environment(folder.resolve())
    path = folder / name
    try:
        template = env.get_template(name)
        return template.render(**context)
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
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(
            f"not allowed in templates: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="templates can only use the documented values",
        ) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(
            f"template failed: {exc}",
            where=_template_frame(exc, folder) or str(path),
            fix="check the expression at that line",
        ) from None


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
