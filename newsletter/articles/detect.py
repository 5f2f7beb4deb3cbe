"""Decoding and format detection: by extension first, then by sniffing the content."""

from __future__ import annotations

import re
from typing import Literal

from newsletter.errors import ArticleError

Format = Literal["text", "markdown", "html"]

_EXTENSIONS: dict[str, Format] = {
    ".txt": "text", ".text": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
}  # fmt: skip
_HTML_START = re.compile(
    r"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I | re.S
)
_HTML_TAG = re.compile(r"</?(p|div|h[1-6]|article|section|span|a|br|ul|li|img)\b[^>]*>", re.I)
_FRONT_MATTER = re.compile(r"^---[ \t]*\r?\n.*?\r?\n(---|\.\.\.)[ \t]*(\r?\n|$)", re.S)
_MARKDOWN_HINT = re.compile(r"^(#{1,6} \S|[-*] \S|> \S)|\[[^\]\n]+\]\([^)\s]+\)|\*\*\S", re.M)


def decode(data: bytes, *, where: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused clearly."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArticleError(
                "invalid UTF-16 text", where=where, fix="save the file as UTF-8"
            ) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ArticleError(
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be decoded",
                where=where,
                fix="save the article as UTF-8 (in most editors: Save As → Encoding: UTF-8)",
            ) from None
    if "\x00" in text or _control_ratio(text) > 0.01:
        raise ArticleError(
            "this looks like a binary file, not an article",
            where=where,
            fix="give a .txt, .md or .html file",
        )
    if not text.strip():
        raise ArticleError(
            "the file is empty", where=where, fix="put the article's title and text in it"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return bad / max(len(sample), 1)


def detect_format(name: str, text: str) -> Format:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if _HTML_START.match(text) or len(_HTML_TAG.findall(text[:20000])) >= 3:
        return "html"
    if _FRONT_MATTER.match(text) or len(_MARKDOWN_HINT.findall(text[:20000])) >= 2:
        return "markdown"
    return "text"
