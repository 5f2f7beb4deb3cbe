"""Rules shared by every importer: safe URLs, bare-URL linking, the closing call to action,
the sources list, and the final checks that make an Article complete.

All pure functions of their inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from newsletter.articles.model import (
    Article,
    CallToAction,
    Inline,
    Paragraph,
    Section,
    Source,
    Span,
    plain,
)
from newsletter.errors import ArticleError

SAFE_SCHEMES = ("http", "https", "mailto")
_BARE_URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“‘(])")
_CTA = re.compile(
    r"\b(contact us|call us|email us|reach out|get in touch|(book|schedule|request|make) "
    r"(a|an|your) (free )?(consultation|appointment|visit|session|call|assessment|evaluation)"
    r"|visit us|talk to (us|our team)|give us a call)\b",
    re.I,
)
# What XML 1.0 forbids (tab and newline stay), C1 controls, lone surrogates, stray BOMs.
_NOT_XML = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_SOURCES_LINE = re.compile(r"^\s*(sources?|references?|citations?)\s*:\s*(.*)$", re.I)
_NAME_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-")


def safe_url(href: str | None, base: str | None = None) -> str | None:
    """An absolute http(s)/mailto URL, resolved against `base`; None if unsafe or unusable."""
    if not href:
        return None
    href = "".join(href.split())  # whitespace inside URLs is never meaningful
    if href.startswith("#"):
        return None
    if href.startswith("//"):  # protocol-relative: an email has no page protocol to borrow
        href = "https:" + href
    try:
        scheme = urlsplit(href).scheme.lower()
        if not scheme and base:
            href = urljoin(base, href)
            scheme = urlsplit(href).scheme.lower()
        netloc = urlsplit(href).netloc
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        return None
    if scheme == "mailto":
        return href if "@" in href else None
    if scheme not in SAFE_SCHEMES:
        return None if scheme else href  # relative without base: kept, flagged by `check`
    return href if netloc else None


def linkify(text: str) -> Inline:
    """Spans for plain text, turning bare http(s) URLs into links."""
    spans: list[Span] = []
    position = 0
    for match in _BARE_URL.finditer(text):
        if match.start() > position:
            spans.append(Span(text[position : match.start()]))
        spans.append(Span(match.group(0), href=safe_url(match.group(0))))
        position = match.end()
    if position < len(text):
        spans.append(Span(text[position:]))
    return tuple(spans)


def is_sources_marker(line: str) -> re.Match[str] | None:
    return _SOURCES_LINE.match(line)


def parse_source(text: str) -> Source:
    text = text.strip().lstrip("-*•·").strip()
    url_match = _BARE_URL.search(text)
    url = safe_url(url_match.group(0)) if url_match else None
    return Source(text=text, url=url)


def find_call_to_action(sections: tuple[Section, ...]) -> CallToAction | None:
    """The closing invitation: the last sentence, in the last two paragraphs, that asks the
    reader to get in touch or book. Its own link, if any, becomes the button target."""
    paragraphs = [b for s in sections for b in s.blocks if isinstance(b, Paragraph)]
    for paragraph in reversed(paragraphs[-2:]):
        text = plain(paragraph.inline)
        sentences = _SENTENCE_END.split(" ".join(text.split()))
        for sentence in reversed(sentences):
            if _CTA.search(sentence):
                url = next(
                    (s.href for s in paragraph.inline if s.href and s.href.startswith("http")),
                    None,
                )
                return CallToAction(text=sentence.strip(), url=url)
    return None


def xml_clean(text: str) -> str:
    """Text any XML/HTML template can hold (once it escapes it): no control characters."""
    return _NOT_XML.sub("", text)


def _xml_clean_all(value: Any) -> Any:
    if isinstance(value, str):
        return xml_clean(value)
    if isinstance(value, tuple):
        return tuple(_xml_clean_all(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _xml_clean_all(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    return value


def complete(article: Article, *, where: str) -> Article:
    """Final checks every importer applies: a title and at least one paragraph of text.

    Control characters that slipped through an importer are dropped first, so no Article
    carries a string an XML template would choke on."""
    article = _xml_clean_all(article)
    if not article.title.strip():
        raise ArticleError(
            "the article has no title",
            where=where,
            fix="put the title on the first line (text), in a `# heading` or `title:` front "
            "matter (Markdown), or in <h1>/<title> (HTML)",
        )
    if not any(p.text.strip() for p in article.paragraphs):
        raise ArticleError(
            "the article has no body paragraphs",
            where=where,
            fix="add the article's text below the title, paragraphs separated by blank lines",
        )
    if len(article.title) > 300:
        raise ArticleError(
            f"the title is {len(article.title)} characters long (the first line must be "
            "the title, at most 300 characters)",
            where=where,
            fix="put a short title on its own first line",
        )
    return article


def title_from_name(name: str) -> str:
    """A post's file name as its title (`2024-03-12-sleep-and-mood.md` → "Sleep and mood"),
    as Jekyll does when the front matter has none; "" for a name that is not a slug."""
    stem = name.rsplit("/", 2)
    base = stem[-1].rsplit(".", 1)[0]
    if base.lower() in ("index", "_index", "readme") and len(stem) > 1:
        base = stem[-2]
    base = _NAME_DATE.sub("", re.sub(r"^\d{4,}[.]", "", base))  # Substack: 139204817.slug
    found = [w for w in re.split(r"[-_\s]+", base) if w]
    if len(found) < 2 or any(len(w) > 30 for w in found) or base.isdigit():
        return ""
    text = " ".join(found)
    return text[0].upper() + text[1:]


def date_from_name(name: str) -> dt.date | None:
    found = _NAME_DATE.match(name.rsplit("/", 1)[-1])
    if not found:
        return None
    try:
        return dt.date(*(int(part) for part in found.groups()))
    except ValueError:
        return None
