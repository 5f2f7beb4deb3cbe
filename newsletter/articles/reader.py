"""The sanitised HTML tree → blocks and spans: what every importer's markup becomes.

Only what survives `sanitize.clean_fragment` is read, so the blocks hold plain text and
URLs that `urls.Urls` accepted; images get back the captions and video links that
`media` remembered before the extractor or the sanitiser threw them away.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from lxml import etree

from newsletter.articles.inference import linkify, xml_clean
from newsletter.articles.media import Media
from newsletter.articles.model import (
    Block,
    Heading,
    Image,
    Inline,
    ListBlock,
    Paragraph,
    Quote,
    Span,
    plain,
)
from newsletter.articles.sanitize import (
    clean_fragment,
    clean_heading,
    clean_text,
    parse_fragment,
)
from newsletter.articles.urls import Urls

_SPACE = re.compile(r"\s+")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_BLOCKS = {"p", "ul", "ol", "li", "blockquote", *_HEADINGS}
Style = tuple[str | None, bool, bool]  # href, bold, italic
_IMAGE_FILE = re.compile(r"\.(jpe?g|png|gif|webp|avif|svg)([?#]|$)", re.I)


class BlockReader:
    """Reads sanitised HTML into blocks, every URL through one `Urls` policy."""

    def __init__(self, urls: Urls, media: Media | None = None):
        self.urls = urls
        self.media = media or Media()

    def url(self, value: str | None) -> str | None:
        return self.urls.link(value)

    def read(self, fragment: str) -> list[Block]:
        cleaned = clean_fragment(fragment, self.media)
        root = parse_fragment(cleaned)
        return self.blocks(root) if root is not None else []

    def blocks(self, root: etree._Element) -> list[Block]:
        blocks: list[Block] = []
        loose: list[Span | Image] = []

        def flush() -> None:
            blocks.extend(_paragraphs(loose))
            loose.clear()

        if root.text:
            loose.append(Span(root.text))
        for child in root:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in _HEADINGS:
                flush()
                heading = clean_heading(
                    plain(_tidy(s for s in self.inline(child) if isinstance(s, Span)))
                )
                if heading:
                    blocks.append(Heading(heading, level=_HEADINGS[tag]))
            elif tag in ("ul", "ol"):
                flush()
                items, images = self.list_items(child)
                if items:
                    blocks.append(ListBlock(items=tuple(items), ordered=tag == "ol"))
                blocks.extend(images)
            elif tag == "blockquote":
                flush()
                inner = self.blocks(child)
                paragraphs = [block_inline(b) for b in inner if not isinstance(b, Image)]
                paragraphs = [p for p in paragraphs if p]
                if paragraphs:
                    blocks.append(Quote(paragraphs=tuple(paragraphs)))
            elif tag in ("p", "li"):
                flush()
                blocks.extend(_paragraphs(list(self.inline(child))))
            else:
                loose.extend(self.inline(child))
            if child.tail:
                loose.append(Span(child.tail))
        flush()
        return blocks

    def list_items(self, element: etree._Element) -> tuple[list[Inline], list[Image]]:
        """Items of a list; nested lists are flattened after their parent item."""
        items: list[Inline] = []
        images: list[Image] = []
        for child in element:
            if child.tag not in ("li", "ul", "ol"):
                continue
            nested = [grand for grand in child if grand.tag in ("ul", "ol")]
            parts = list(self.inline(child, skip=frozenset({"ul", "ol"})))
            images.extend(p for p in parts if isinstance(p, Image))
            item = _tidy(p for p in parts if isinstance(p, Span))
            if item:
                items.append(item)
            for sub in [*nested, *([child] if child.tag in ("ul", "ol") else [])]:
                sub_items, sub_images = self.list_items(sub)
                items.extend(sub_items)
                images.extend(sub_images)
        return items, images

    def inline(
        self,
        element: etree._Element,
        style: Style = (None, False, False),
        skip: frozenset[str] = frozenset(),
    ) -> Iterator[Span | Image]:
        """Spans (and images) of an element's content, without its tail."""
        tag = element.tag if isinstance(element.tag, str) else ""
        href, bold, italic = style
        if tag == "img":
            raw = element.get("src") or ""
            src = self.urls.image(self.media.stand_ins.get(raw, raw))
            if src:
                target = self.media.links.get(raw) or (
                    None if _IMAGE_FILE.search(href or "") else href
                )
                yield Image(
                    src=src,
                    alt=clean_text(element.get("alt") or ""),
                    caption=clean_text(self.media.captions.get(raw, "")),
                    href=self.urls.link(target) if target else None,
                )
            return
        if tag == "br":
            yield Span(" ")
            return
        if tag == "a":
            href = self.url(element.get("href"))
        elif tag in ("strong", "b"):
            bold = True
        elif tag in ("em", "i"):
            italic = True
        elif tag in _BLOCKS:
            yield Span(" ")
        inner: Style = (href, bold, italic)
        if element.text:
            yield Span(element.text, *inner)
        for child in element:
            if child.tag not in skip:
                yield from self.inline(child, inner, skip)
            if child.tail:
                yield Span(child.tail, *inner)
        if tag in _BLOCKS:
            yield Span(" ")


def _paragraphs(parts: list[Span | Image]) -> list[Block]:
    """Paragraphs from inline content, split wherever an image sits inside it."""
    blocks: list[Block] = []
    spans: list[Span] = []
    for part in [*parts, None]:
        if isinstance(part, Span):
            spans.append(part)
            continue
        inline = _tidy(spans)
        if inline:
            blocks.append(Paragraph(inline))
        spans = []
        if part is not None:
            blocks.append(part)
    return blocks


def _tidy(spans: Iterator[Span] | list[Span]) -> Inline:
    """Collapse whitespace as a browser would, merge equal runs, link bare URLs."""
    runs: list[tuple[Style, list[str]]] = []  # pieces joined once: linear in the text
    ends_with_space = False
    for span in spans:
        text = _SPACE.sub(" ", xml_clean(span.text))
        if not text:
            continue
        if ends_with_space and text.startswith(" "):
            text = text[1:]
            if not text:
                continue
        style = (span.href, span.bold, span.italic)
        if runs and runs[-1][0] == style:
            runs[-1][1].append(text)
        else:
            runs.append((style, [text]))
        ends_with_space = text.endswith(" ")
    merged = [Span("".join(pieces), *style) for style, pieces in runs]
    if merged:
        merged[0] = replace(merged[0], text=merged[0].text.lstrip())
        merged[-1] = replace(merged[-1], text=merged[-1].text.rstrip())
    result: list[Span] = []
    for span in merged:
        if not span.text:
            continue
        if span.href or not span.text.strip():
            result.append(span if span.text.strip() else Span(span.text))
            continue
        result.extend(
            replace(part, bold=span.bold, italic=span.italic) for part in linkify(span.text)
        )
    return tuple(result) if plain(tuple(result)).strip() else ()


def block_inline(block: Block) -> Inline:
    if isinstance(block, Paragraph):
        return block.inline
    if isinstance(block, Heading):
        return (Span(block.text, bold=True),)
    if isinstance(block, ListBlock):
        return tuple(span for item in block.items for span in (Span("• "), *item, Span(" ")))
    if isinstance(block, Quote):
        return tuple(span for p in block.paragraphs for span in (*p, Span(" ")))
    return ()
