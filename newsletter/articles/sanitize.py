"""Email-safe HTML: what may survive from an imported page, and how it becomes blocks.

`drop_trackers` runs on the whole page before extraction, because the extractor throws
away the width/height that identify 1×1 pixels. `clean_fragment` runs nh3 on the
extractor's output with a small email allowlist, and `BlockReader` walks only that
allowlisted tree, so nothing but plain text and safe URLs reaches the Article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import nh3
from lxml import etree, html

from newsletter.articles.inference import linkify, safe_url, xml_clean
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

ALLOWED_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "a", "img", "ul", "ol", "li", "strong", "b", "em", "i"}
    | {"blockquote", "br"}
)
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Removed with everything inside them (nh3 keeps the text of other disallowed tags).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "form", "svg", "math", "noscript"}
    | {"template", "textarea", "select", "button", "canvas", "video", "audio", "title"}
)
# Hosts (and host+path prefixes) whose images are tracking beacons, never content.
TRACKER_PATTERNS = (
    "facebook.com/tr",
    "facebook.net",
    "google-analytics.com",
    "analytics.google.com",
    "googletagmanager.com",
    "doubleclick.net",
    "googleadservices.com",
    "googlesyndication.com",
    "bat.bing.com",
    "px.ads.linkedin.com",
    "ads.linkedin.com",
    "analytics.twitter.com",
    "t.co/i/adsct",
    "ct.pinterest.com",
    "analytics.tiktok.com",
    "sc-static.net",
    "hotjar.com",
    "quantserve.com",
    "scorecardresearch.com",
    "pixel.wp.com",
    "stats.wp.com",
    "mc.yandex.ru",
    "pixel.quantserve.com",
    "list-manage.com/track",
    "hubspot.com/__ptq.gif",
    "track.hubspot.com",
)
_DIMENSION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px)?\s*$", re.I)
_STYLE_DIMENSION = re.compile(r"(?:^|;)\s*(width|height)\s*:\s*(\d+(?:\.\d+)?)\s*px", re.I)
# Block elements the allowlist lacks, mapped to the nearest allowed one so that their
# text keeps its own paragraph instead of running into its neighbours.
_RENAME = {"h5": "h4", "h6": "h4", "pre": "p", "dt": "p", "dd": "p", "figcaption": "p"}
_CELL_SEPARATOR = " · "
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
_SPACE = re.compile(r"\s+")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_BLOCKS = {"p", "ul", "ol", "li", "blockquote", *_HEADINGS}
Style = tuple[str | None, bool, bool]  # href, bold, italic


def resolve_bad_char_refs(page: str) -> str:
    """Replace character references lxml would decode into characters it then refuses
    to handle ("&#x1;" in an href): C1 ones mean Windows-1252, as browsers read them."""

    def replacement(match: re.Match[str]) -> str:
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        if 0x80 <= code <= 0x9F:
            return bytes([code]).decode("cp1252", errors="ignore")
        if code > 0x10FFFF or xml_clean(chr(code)) != chr(code):
            return ""
        return match.group(0)

    return _CHAR_REF.sub(replacement, page)


def is_tracker_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return True  # unparseable URLs are never worth keeping
    location = (parts.netloc.lower().split("@")[-1] + parts.path.lower()).lstrip(".")
    location = location.removeprefix("www.")
    return any(
        location.startswith(pattern) or f".{pattern}" in f".{location}"
        for pattern in TRACKER_PATTERNS
    )


def is_pixel(img: etree._Element) -> bool:
    """A 1×1 (or smaller) image, declared by attributes or inline style."""
    sizes: dict[str, float] = {}
    for name in ("width", "height"):
        match = _DIMENSION.match(img.get(name) or "")
        if match:
            sizes[name] = float(match.group(1))
    for name, value in _STYLE_DIMENSION.findall(img.get("style") or ""):
        sizes.setdefault(name.lower(), float(value))
    return bool(sizes) and all(value <= 1 for value in sizes.values())


def drop_trackers(tree: etree._Element) -> None:
    """Remove tracking pixels and beacon images from a parsed page, in place."""
    for img in list(tree.iter("img")):
        src = img.get("src") or img.get("data-src") or ""
        if is_pixel(img) or is_tracker_url(src) or src.startswith("data:"):
            _remove_keep_tail(img)


def clean_fragment(fragment: str) -> str:
    """The extractor's HTML, reduced to the email allowlist (links: http/https/mailto)."""
    fragment = xml_clean(fragment)  # "&#65535;" decodes to a character lxml refuses
    try:
        root = html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        root = None
    if root is not None:
        _normalise_blocks(root)
        fragment = html.tostring(root, encoding="unicode")
    cleaned = nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel=None,
    )
    return xml_clean(cleaned)


def _normalise_blocks(root: etree._Element) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in _RENAME:
            element.tag = _RENAME[element.tag]
        elif element.tag == "tr":
            element.tag = "p"
            cells = [cell for cell in element if cell.tag in ("td", "th")]
            for cell in cells[:-1]:
                cell.tail = _CELL_SEPARATOR + (cell.tail or "")
    for img in list(root.iter("img")):
        if is_tracker_url(img.get("src")):
            _remove_keep_tail(img)


def _remove_keep_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def clean_text(value: str) -> str:
    """One line of XML-clean text, whitespace collapsed as a browser would."""
    return _SPACE.sub(" ", xml_clean(value)).strip()


# --- the sanitised tree → blocks ------------------------------------------------------


class BlockReader:
    """Reads extracted HTML into blocks, resolving every URL against `base`.

    Only what survives `clean_fragment` is read, so the blocks hold plain text and
    http(s)/mailto (or, without a base, relative) URLs and nothing else.
    """

    def __init__(self, base: str | None):
        self.base = base
        self.relative_urls = False

    def url(self, value: str | None) -> str | None:
        url = safe_url(value, self.base)
        if url is None or is_tracker_url(url):
            return None
        if not url.startswith(("http://", "https://", "mailto:")):
            self.relative_urls = True
        return url

    def read(self, fragment: str) -> list[Block]:
        return self.blocks(html.fragment_fromstring(clean_fragment(fragment), create_parent="div"))

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
                heading = clean_text(
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
            src = self.url(element.get("src"))
            if src:
                yield Image(src=src, alt=clean_text(element.get("alt") or ""))
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
    merged: list[Span] = []
    for span in spans:
        text = _SPACE.sub(" ", xml_clean(span.text))
        if not text:
            continue
        if merged and merged[-1].text.endswith(" ") and text.startswith(" "):
            text = text[1:]
            if not text:
                continue
        last = merged[-1] if merged else None
        if last and (last.href, last.bold, last.italic) == (span.href, span.bold, span.italic):
            merged[-1] = replace(last, text=last.text + text)
        else:
            merged.append(replace(span, text=text))
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
