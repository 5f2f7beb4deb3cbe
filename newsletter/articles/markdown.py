"""Markdown articles with optional YAML front matter.

Front matter fields win over anything inferred from the body:

    ---
    title: ...            summary: ... (or preheader / description)
    image: https://...    image_alt: ...
    author: ...           date: 2026-11-02
    canonical_url: ...    tags: [research-news, events]
    cta: "Book your consultation today."   (or {text, url, label})
    sources: [...]        (strings, or {text, url})
    ---
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    is_sources_marker,
    parse_source,
    safe_url,
)
from newsletter.articles.model import (
    Article,
    Block,
    CallToAction,
    Image,
    Inline,
    ListBlock,
    Paragraph,
    Quote,
    Section,
    Source,
    Span,
    plain,
)
from newsletter.errors import ArticleError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_KNOWN_FIELDS = {
    "title", "summary", "preheader", "description", "image", "hero_image", "image_alt",
    "hero_alt", "author", "date", "canonical_url", "canonical", "tags", "cta", "sources",
}  # fmt: skip
_MD = MarkdownIt("commonmark", {"html": False})


def parse_markdown(text: str, *, where: str, base_url: str | None = None) -> Article:
    meta, body = _front_matter(text, where=where)
    base = base_url or _str(meta, "canonical_url", where) or _str(meta, "canonical", where)
    walker = _Walker(base)
    walker.walk(_MD.parse(body))

    title = _str(meta, "title", where) or walker.h1 or ""
    sections, sources = _extract_sources(walker.sections())
    hero = safe_url(_str(meta, "image", where) or _str(meta, "hero_image", where), base)
    hero_alt = _str(meta, "image_alt", where) or _str(meta, "hero_alt", where)
    if not hero and walker.first_image:
        hero, hero_alt = walker.first_image.src, hero_alt or walker.first_image.alt
        sections = _without_block(sections, walker.first_image)

    article = Article(
        title=title.strip(),
        sections=sections,
        summary=(
            _str(meta, "summary", where)
            or _str(meta, "preheader", where)
            or _str(meta, "description", where)
        ).strip(),
        hero_image=hero,
        hero_alt=hero_alt.strip(),
        sources=_sources(meta.get("sources"), where) if "sources" in meta else tuple(sources),
        author=_str(meta, "author", where),
        date=_date(meta.get("date"), where),
        canonical_url=safe_url(
            _str(meta, "canonical_url", where) or _str(meta, "canonical", where)
        ),
        tags=_tags(meta.get("tags"), where),
        format="markdown",
        warnings=tuple(walker.warnings),
    )
    cta = _cta(meta.get("cta"), where, base) if "cta" in meta else None
    article = replace(article, call_to_action=cta or find_call_to_action(article.sections))
    return complete(article, where=where)


def _front_matter(text: str, *, where: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 2}" if mark else ""
        raise ArticleError(
            f"the front matter is not valid YAML ({getattr(exc, 'problem', exc)})",
            where=f"{where}{line}",
            fix="front matter is `key: value` lines between two `---` lines; quote values "
            "containing a colon",
        ) from None
    if not isinstance(meta, dict):
        raise ArticleError(
            "the front matter must be `key: value` lines",
            where=f"{where}, line 2",
            fix="write fields like `title: My article`",
        )
    unknown = sorted(str(k) for k in meta if k not in _KNOWN_FIELDS)
    if unknown:
        raise ArticleError(
            f"unknown front matter field(s): {', '.join(unknown)}",
            where=where,
            fix="use only: " + ", ".join(sorted(_KNOWN_FIELDS)),
        )
    return meta, text[match.end() :]


def _str(meta: dict[str, Any], key: str, where: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ArticleError(
        f"front matter field `{key}` must be text", where=where, fix=f"write `{key}: some text`"
    )


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ArticleError(
            f"front matter `date` {value!r} is not a date",
            where=where,
            fix="write the date as YYYY-MM-DD",
        ) from None


def _tags(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ArticleError(
            "front matter `tags` must be a list of words",
            where=where,
            fix="write `tags: [events, research-news]`",
        )
    return tuple(str(v).strip() for v in value if str(v).strip())


def _sources(value: Any, where: str) -> tuple[Source, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        value = [value]
    sources = []
    for item in value:
        if isinstance(item, dict):
            sources.append(
                Source(
                    text=str(item.get("text", item.get("url", ""))),
                    url=safe_url(str(item.get("url") or "")) or None,
                )
            )
        elif isinstance(item, str | int | float):
            sources.append(parse_source(str(item)))
        else:
            raise ArticleError(
                "front matter `sources` must be a list",
                where=where,
                fix="write one source per `- ` line",
            )
    return tuple(s for s in sources if s.text)


def _cta(value: Any, where: str, base: str | None) -> CallToAction | None:
    if value in (None, "", False):
        return None
    if isinstance(value, str):
        return CallToAction(text=value.strip())
    if isinstance(value, dict) and isinstance(value.get("text", ""), str):
        url = safe_url(str(value.get("url") or ""), base)
        label = str(value.get("label") or "Book a consultation")
        return CallToAction(text=str(value.get("text", "")).strip(), url=url, label=label)
    raise ArticleError(
        "front matter `cta` must be text or {text, url, label}",
        where=where,
        fix='write `cta: "Book a consultation with our team."`',
    )


def _extract_sources(sections: tuple[Section, ...]) -> tuple[tuple[Section, ...], list[Source]]:
    """A final `Sources` heading (or `Sources:` paragraph) followed by a list becomes sources."""
    if not sections:
        return sections, []
    last = sections[-1]
    if last.heading and is_sources_marker(last.heading + ":"):
        return sections[:-1], _sources_from_blocks(last.blocks)
    blocks = list(last.blocks)
    for index in range(len(blocks) - 1, -1, -1):
        block = blocks[index]
        if isinstance(block, Paragraph) and (match := is_sources_marker(block.text)):
            found = [parse_source(match.group(2))] if match.group(2).strip() else []
            found += _sources_from_blocks(tuple(blocks[index + 1 :]))
            kept = replace(last, blocks=tuple(blocks[:index]))
            return (*sections[:-1], kept), found
    return sections, []


def _sources_from_blocks(blocks: tuple[Block, ...]) -> list[Source]:
    found: list[Source] = []
    for block in blocks:
        inlines = (
            block.items
            if isinstance(block, ListBlock)
            else ((block.inline,) if isinstance(block, Paragraph) else ())
        )
        for inline in inlines:
            url = next((s.href for s in inline if s.href), None)
            found.append(Source(text=plain(inline).strip(), url=url))
    return [s for s in found if s.text]


def _without_block(sections: tuple[Section, ...], target: Block) -> tuple[Section, ...]:
    return tuple(replace(s, blocks=tuple(b for b in s.blocks if b is not target)) for s in sections)


class _Walker:
    """Turns markdown-it tokens into sections of blocks."""

    def __init__(self, base: str | None):
        self.base = base
        self.h1: str | None = None
        self.first_image: Image | None = None
        self.warnings: list[str] = []
        self._sections: list[Section] = []
        self._heading: str | None = None
        self._blocks: list[Block] = []

    def sections(self) -> tuple[Section, ...]:
        self._close()
        return tuple(self._sections)

    def _close(self) -> None:
        if self._blocks or self._heading is not None:
            self._sections.append(Section(self._heading, tuple(self._blocks)))
        self._heading, self._blocks = None, []

    def walk(self, tokens: list[Token]) -> None:
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type == "heading_open":
                text = plain(self.inline(tokens[index + 1])).strip()
                if (
                    token.tag == "h1"
                    and self.h1 is None
                    and not self._sections
                    and not self._blocks
                ):
                    self.h1 = text
                elif text:
                    self._close()
                    self._heading = text
                index += 3
                continue
            if token.type == "paragraph_open" and token.level == 0:
                self._paragraph(tokens[index + 1])
                index += 3
                continue
            if token.type in ("bullet_list_open", "ordered_list_open"):
                end = _matching(tokens, index)
                items = tuple(self.inline(t) for t in tokens[index:end] if t.type == "inline")
                self._blocks.append(ListBlock(items, ordered=token.type == "ordered_list_open"))
                index = end + 1
                continue
            if token.type == "blockquote_open":
                end = _matching(tokens, index)
                paras = tuple(self.inline(t) for t in tokens[index:end] if t.type == "inline")
                self._blocks.append(Quote(paras))
                index = end + 1
                continue
            if token.type in ("fence", "code_block") and token.content.strip():
                self._blocks.append(Paragraph((Span(token.content.strip()),)))
            index += 1

    def _paragraph(self, inline_token: Token) -> None:
        children = [c for c in (inline_token.children or []) if c.type != "softbreak"]
        if len(children) == 1 and children[0].type == "image":
            image = self._image(children[0])
            if image:
                if self.first_image is None and not self._sections and not self._blocks:
                    self.first_image = image
                self._blocks.append(image)
            return
        inline = self.inline(inline_token)
        if plain(inline).strip():
            self._blocks.append(Paragraph(inline))

    def _image(self, token: Token) -> Image | None:
        src = safe_url(str(token.attrGet("src") or ""), self.base)
        if not src or not src.startswith(("http://", "https://")):
            self.warnings.append(f"image {token.attrGet('src')!r} skipped: not an absolute URL")
            return None
        return Image(src=src, alt=token.content or "", caption=str(token.attrGet("title") or ""))

    def inline(self, token: Token) -> Inline:
        spans: list[Span] = []
        href: str | None = None
        bold = italic = False
        for child in token.children or []:
            kind = child.type
            if kind == "text" or kind == "code_inline":
                spans.append(Span(child.content, href, bold, italic))
            elif kind in ("softbreak", "hardbreak"):
                spans.append(Span(" ", href, bold, italic))
            elif kind == "link_open":
                href = safe_url(str(child.attrGet("href") or ""), self.base)
            elif kind == "link_close":
                href = None
            elif kind == "strong_open":
                bold = True
            elif kind == "strong_close":
                bold = False
            elif kind == "em_open":
                italic = True
            elif kind == "em_close":
                italic = False
            elif kind == "image" and child.content:
                spans.append(Span(child.content, href, bold, italic))
        return _merge(spans)


def _matching(tokens: list[Token], start: int) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        depth += tokens[index].nesting
        if depth == 0:
            return index
    return len(tokens) - 1


def _merge(spans: list[Span]) -> Inline:
    merged: list[Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if previous and (previous.href, previous.bold, previous.italic) == (
            span.href,
            span.bold,
            span.italic,
        ):
            merged[-1] = replace(previous, text=previous.text + span.text)
        else:
            merged.append(span)
    return tuple(merged)
