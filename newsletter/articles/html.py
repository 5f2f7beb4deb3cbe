"""HTML blog pages → Article.

The page is parsed once with lxml (for the metadata the extractor does not return:
canonical link, og:image and its alt), tracking pixels are removed, trafilatura keeps the
main article only, nh3 reduces that to the email allowlist, and the sanitised tree is
walked into blocks and spans. Rules shared with the other importers (URL safety, the
call to action, sources, completeness) come from `inference`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import replace

import trafilatura
from lxml import etree, html

from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    is_sources_marker,
    linkify,
    parse_source,
    safe_url,
)
from newsletter.articles.model import (
    Article,
    Block,
    Heading,
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
from newsletter.articles.sanitize import clean_fragment, drop_trackers, is_tracker_url, xml_clean
from newsletter.errors import ArticleError

MAX_HTML_CHARS = 5_000_000
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_BLOCKS = {"p", "ul", "ol", "li", "blockquote", *_HEADINGS}
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " · ", " :: ", " » ")
_SPACE = re.compile(r"\s+")
_NO_TEXT_FIX = (
    "save the article page itself (not the home page or a list of posts), "
    "or copy its text into a .txt file"
)

Style = tuple[str | None, bool, bool]  # href, bold, italic


def parse_html(text: str, *, where: str, base_url: str | None) -> Article:
    if len(text) > MAX_HTML_CHARS:
        raise ArticleError(
            f"the page is {len(text):,} characters; at most {MAX_HTML_CHARS:,} are read",
            where=where,
            fix="save the article page without embedded images or scripts (Save Page As → "
            "'Web Page, HTML only')",
        )
    try:
        return _parse(xml_clean(text), where=where, base_url=base_url)
    except RecursionError:
        raise ArticleError(
            "the page is nested too deeply to read", where=where, fix=_NO_TEXT_FIX
        ) from None


def _parse(text: str, *, where: str, base_url: str | None) -> Article:
    page = _load(text)
    if page is None:
        raise ArticleError("no HTML content found in this file", where=where, fix=_NO_TEXT_FIX)
    meta = _page_meta(page)
    base = _absolute(base_url) or _absolute(meta.get("canonical")) or _absolute(meta.get("og:url"))
    drop_trackers(page)
    extracted = _extract(page, base_url=base, where=where)
    info, body = _split_output(extracted)

    walker = _Walker(base)
    blocks = walker.blocks(html.fragment_fromstring(clean_fragment(body), create_parent="div"))

    title = _title(info.get("title") or meta.get("h1") or meta.get("title") or "", info, meta)
    blocks = _drop_title_heading(blocks, title)
    blocks, sources = _split_sources(blocks)
    hero, hero_alt, blocks = _hero(blocks, meta, base, walker)
    sections = _sections(blocks)
    warnings: list[str] = []
    if walker.relative_urls:
        warnings.append(
            "some links or images have relative addresses and were kept as they are: the "
            "page has no canonical link; pass --base-url with the page's address"
        )
    article = Article(
        title=title,
        sections=sections,
        summary=_text(info.get("description") or meta.get("description") or ""),
        hero_image=hero,
        hero_alt=hero_alt,
        sources=sources,
        author=_text(meta.get("author") or info.get("author") or "")[:200],
        date=_date(info.get("date")),
        canonical_url=_absolute(meta.get("canonical")) or _absolute(meta.get("og:url")) or base,
        tags=_tags(info.get("tags") or meta.get("keywords") or ""),
        format="html",
        warnings=tuple(warnings),
    )
    if not title:
        raise ArticleError(
            "the page has no title", where=where, fix="add a <title> or an <h1> to the page"
        )
    if not any(p.text for p in article.paragraphs):
        raise ArticleError("no article text found in this HTML page", where=where, fix=_NO_TEXT_FIX)
    cta = find_call_to_action(article.sections)
    if cta:
        article = replace(article, call_to_action=cta)
    return complete(article, where=where)


# --- page loading and metadata ---------------------------------------------------------


def _load(text: str) -> html.HtmlElement | None:
    parser = html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        page = html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError):
        return None
    return page if isinstance(page, html.HtmlElement) else None


def _page_meta(page: html.HtmlElement) -> dict[str, str]:
    """The page's own metadata the extractor leaves out (first value of each wins)."""
    meta: dict[str, str] = {}
    for element in page.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = (element.get("content") or "").strip()
        if key and content:
            meta.setdefault(key, content)
    for element in page.iter("link"):
        if "canonical" in (element.get("rel") or "").lower().split() and element.get("href"):
            meta.setdefault("canonical", element.get("href", "").strip())
    for index, img in enumerate(page.iter("img")):
        if index > 500:
            break
        if img.get("src") and img.get("alt"):
            meta.setdefault("alt:" + img.get("src", "").strip(), img.get("alt", ""))
    for tag in ("title", "h1"):
        found = next(page.iter(tag), None)
        if found is not None:
            meta.setdefault(tag, _text(found.text_content()))
    return meta


def _absolute(url: str | None) -> str | None:
    resolved = safe_url(url)
    return resolved if resolved and resolved.startswith(("http://", "https://")) else None


def _extract(page: html.HtmlElement, *, base_url: str | None, where: str) -> str:
    try:
        result = trafilatura.extract(
            page,
            url=base_url,
            output_format="html",
            with_metadata=True,
            include_comments=False,
            include_links=True,
            include_images=True,
            include_formatting=True,
            include_tables=True,
            favor_precision=True,
        )
    except RecursionError:
        raise
    except Exception as exc:  # the extractor's failures on hostile markup are not ours to fix
        raise ArticleError(
            f"the HTML page could not be read ({type(exc).__name__})",
            where=where,
            fix=_NO_TEXT_FIX,
        ) from None
    if not result:
        raise ArticleError("no article text found in this HTML page", where=where, fix=_NO_TEXT_FIX)
    return result


def _split_output(extracted: str) -> tuple[dict[str, str], str]:
    """trafilatura's HTML output: metadata as <meta name content> in head, article in body."""
    document = html.document_fromstring(extracted.encode("utf-8"), parser=html.HTMLParser(
        encoding="utf-8"))  # fmt: skip
    info = {
        str(m.get("name")): m.get("content", "") for m in document.iter("meta") if m.get("name")
    }
    body = document.find("body")
    if body is None:
        return info, ""
    inner = (body.text or "") + "".join(html.tostring(child, encoding="unicode") for child in body)
    return info, inner


def _title(raw: str, info: dict[str, str], meta: dict[str, str]) -> str:
    title = _text(raw)
    site_names = {
        name.lower()
        for name in (info.get("sitename"), info.get("hostname"), meta.get("og:site_name"))
        if name
    }
    for separator in _TITLE_SEPARATORS:
        head, found, tail = title.rpartition(separator)
        if found and head.strip() and tail.strip().lower() in site_names:
            return head.strip()
    return title


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


def _tags(value: str) -> tuple[str, ...]:
    tags = (_text(tag) for tag in re.split(r"[;,]", value))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def _text(value: str) -> str:
    return _SPACE.sub(" ", xml_clean(value)).strip()


# --- the sanitised tree → blocks -------------------------------------------------------


class _Walker:
    """Turns the allowlisted tree into blocks, resolving every URL against `base`."""

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
                heading = _text(plain(_tidy(s for s in self.inline(child) if isinstance(s, Span))))
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
                paragraphs = [_block_inline(b) for b in inner if not isinstance(b, Image)]
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
                yield Image(src=src, alt=_text(element.get("alt") or ""))
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


def _block_inline(block: Block) -> Inline:
    if isinstance(block, Paragraph):
        return block.inline
    if isinstance(block, Heading):
        return (Span(block.text, bold=True),)
    if isinstance(block, ListBlock):
        return tuple(span for item in block.items for span in (Span("• "), *item, Span(" ")))
    if isinstance(block, Quote):
        return tuple(span for p in block.paragraphs for span in (*p, Span(" ")))
    return ()


# --- article structure -----------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return _SPACE.sub(" ", a).strip().casefold() == _SPACE.sub(" ", b).strip().casefold()


def _drop_title_heading(blocks: list[Block], title: str) -> list[Block]:
    for index, block in enumerate(blocks):
        if isinstance(block, Heading) and _same(block.text, title):
            return blocks[:index] + blocks[index + 1 :]
        if isinstance(block, Paragraph | ListBlock | Quote):
            break
    return blocks


def _split_sources(blocks: list[Block]) -> tuple[list[Block], tuple[Source, ...]]:
    """A trailing 'Sources'/'References' heading or paragraph, and the list after it."""
    index = len(blocks) - 1
    match = None
    while index >= 0:
        block = blocks[index]
        text = block.text if isinstance(block, Heading | Paragraph) else ""
        match = is_sources_marker(text if ":" in text else text + ":") if text else None
        if match and (isinstance(block, Heading) or len(match.group(0)) < 400):
            break
        if not isinstance(block, Paragraph | ListBlock):
            return blocks, ()
        index -= 1
    if index < 0:
        return blocks, ()
    sources: list[Source] = []
    first = match.group(2).strip() if match else ""
    if first:
        sources.extend(parse_source(part) for part in first.split(";") if part.strip())
    for block in blocks[index + 1 :]:
        inlines = block.items if isinstance(block, ListBlock) else (_block_inline(block),)
        for inline in inlines:
            source = parse_source(plain(inline))
            link = next((s.href for s in inline if s.href), None)
            if source.text:
                sources.append(replace(source, url=link or source.url))
    return blocks[:index], tuple(sources)


def _hero(
    blocks: list[Block], meta: dict[str, str], base: str | None, walker: _Walker
) -> tuple[str | None, str, list[Block]]:
    """og:image (or the first image of the article); that image leaves the body."""
    declared = meta.get("og:image") or meta.get("og:image:url") or meta.get("twitter:image")
    hero = walker.url(declared) if declared else None
    alt = _text(meta.get("og:image:alt") or meta.get("twitter:image:alt") or "")
    images = [b for b in blocks if isinstance(b, Image)]
    first = images[0] if images else None
    if hero is None and first is not None:
        hero = first.src
    if first is not None and _same_image(first.src, hero):
        alt = first.alt or alt
        blocks = [b for b in blocks if b is not first]
    if hero and not alt:
        alt = next(
            (
                _text(v)
                for k, v in meta.items()
                if k.startswith("alt:") and safe_url(k[4:], base) == hero
            ),
            "",
        )
    return hero, alt, blocks


def _same_image(a: str, b: str | None) -> bool:
    return b is not None and a.split("?")[0].rstrip("/") == b.split("?")[0].rstrip("/")


def _sections(blocks: list[Block]) -> tuple[Section, ...]:
    """The highest heading level present divides sections; deeper ones stay as blocks."""
    levels = [b.level for b in blocks if isinstance(b, Heading)]
    top = min(levels, default=0)
    sections: list[Section] = []
    heading: str | None = None
    current: list[Block] = []
    for block in blocks:
        if isinstance(block, Heading) and block.level == top:
            if current or heading is not None:
                sections.append(Section(heading, tuple(current)))
            heading, current = block.text, []
        else:
            current.append(block)
    if current or heading is not None:
        sections.append(Section(heading, tuple(current)))
    return tuple(sections)
