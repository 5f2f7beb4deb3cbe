"""The only importer of mjml-python (MRML, a Rust port of MJML 4)."""

from __future__ import annotations

from mjml import mjml2html

from newsletter.errors import TemplateError


def compile_mjml(source: str, *, where: str) -> str:
    try:
        return mjml2html(source, disable_comments=True)
    except Exception as exc:  # MRML raises ValueError; its panics surface as other types
        raise TemplateError(
            f"MJML could not be compiled: {exc}",
            where=f"{where} (after Jinja rendering)",
            fix="check that every <mj-…> tag is closed and nested as MJML requires",
        ) from None
