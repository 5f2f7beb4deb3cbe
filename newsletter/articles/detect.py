"""Decoding and format detection: by extension first, then by sniffing the content.

Text is read as a browser would: a byte-order mark wins, then a saved page's own
`<meta charset>` (or XML declaration), then UTF-8; bytes that are not UTF-8 are read as
Windows-1252 (what legacy editors and pages write), with a warning, instead of refusing a
real article over a few accented letters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
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
_FRONT_MATTER = re.compile(
    r"^(---|\+\+\+)[ \t]*\r?\n.*?\r?\n(---|\.\.\.|\+\+\+)[ \t]*(\r?\n|$)", re.S
)
_JSON_FRONT_MATTER = re.compile(r'^\{\s*"[^"\n]+"\s*:')
_MARKDOWN_HINT = re.compile(r"^(#{1,6} \S|[-*] \S|> \S)|\[[^\]\n]+\]\([^)\s]+\)|\*\*\S", re.M)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})"""
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""",
    re.I,
)
# The WHATWG encoding standard: these labels mean Windows-1252 in every browser.
_WINDOWS_1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii",
                 "cp1252", "windows-1252", "x-cp1252", "iso_8859-1", "cp819", "ibm819"}  # fmt: skip
_FALLBACK_ERRORS = "newsletter-windows-1252"


def _windows_1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a byte UTF-8 cannot decode is read as Windows-1252."""
    assert isinstance(error, UnicodeDecodeError)
    byte = error.object[error.start : error.start + 1]
    return byte.decode("cp1252", errors="replace").replace("\ufffd", ""), error.start + 1


codecs.register_error(_FALLBACK_ERRORS, _windows_1252)


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    warnings: tuple[str, ...] = ()


def decode(data: bytes, *, where: str, html: bool | None = None) -> Decoded:
    """Bytes → text with Unix newlines; binary or empty files are refused clearly.

    `html` says whether to honour a declared `<meta charset>` (None: if the bytes look like
    markup)."""
    try:
        text, warnings = _decode(data, html=html)
    except _NotText as error:
        raise ArticleError(str(error), where=where, fix="save the file as UTF-8") from None
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
    return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), tuple(warnings))


def _decode(data: bytes, *, html: bool | None) -> tuple[str, list[str]]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec == "utf-8":
                return _utf8(data[len(bom) :])
            try:
                return data.decode(codec).removeprefix("\ufeff"), []
            except UnicodeDecodeError:
                raise _NotText(f"invalid {codec.upper()} text") from None
    looks_like_markup = html or (html is None and _HTML_TAG.search(data[:4096].decode("latin-1")))
    declared = _declared_charset(data) if looks_like_markup else None
    if declared and declared != "utf-8":
        # A saved page that re-encoded itself to UTF-8 keeps its old declaration: valid
        # UTF-8 with multi-byte characters is never an accident of a single-byte charset.
        try:
            utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            utf8 = None
        if utf8 is None or utf8.isascii() or not _single_byte(declared):
            return data.decode(declared, errors="replace"), []
        return utf8, []
    return _utf8(data)


def _utf8(data: bytes) -> tuple[str, list[str]]:
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
    text = data.decode("utf-8", errors=_FALLBACK_ERRORS)
    return text, [
        f"the file is not all UTF-8 (from line {line}); those characters were read as "
        "Windows-1252: check accented letters and quotes, or save the file as UTF-8"
    ]


class _NotText(Exception):
    pass


def _declared_charset(data: bytes) -> str | None:
    match = _DECLARED.search(data[:4096])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").strip().lower()
    if label in _WINDOWS_1252:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith("utf-16") or name.startswith("utf-32"):
        return None  # a declaration in ASCII bytes cannot be UTF-16: the page was re-saved
    return "utf-8" if name == "utf-8" else name


def _single_byte(codec: str) -> bool:
    return codec.startswith(("cp", "iso8859", "latin", "mac", "koi8", "windows", "tis"))


_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f]")


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    return len(_CONTROL.findall(sample)) / max(len(sample), 1)


def detect_format(name: str, text: str) -> Format:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if _HTML_START.match(text) or len(_HTML_TAG.findall(text[:20000])) >= 3:
        return "html"
    if (
        _FRONT_MATTER.match(text)
        or _JSON_FRONT_MATTER.match(text)
        or len(_MARKDOWN_HINT.findall(text[:20000])) >= 2
    ):
        return "markdown"
    return "text"


def format_hint(name: str) -> Format | None:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return _EXTENSIONS.get(suffix)
