"""HTML blog pages → Article.

The page is parsed once with lxml (for the metadata the extractor does not return:
canonical link, og:image and its alt), tracking pixels are removed, trafilatura keeps the
main article only, nh3 reduces that to the email allowlist, and the sanitised tree is
walked into blocks and spans. Rules shared with the other importers (URL safety, the
call to action, sources, completeness) come from `inference`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import replace
from urllib.parse import urlsplit

import trafilatura
from lxml import etree, html

from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    is_sources_marker,
    parse_source,
    safe_url,
    xml_clean,
)
from newsletter.articles.model import (
    Article,
    Block,
    Heading,
    Image,
    ListBlock,
    Paragraph,
    Quote,
    Section,
    Source,
    plain,
)
from newsletter.articles.sanitize import (
    BlockReader,
    block_inline,
    clean_text,
    drop_trackers,
    resolve_bad_char_refs,
)
from newsletter.errors import ArticleError

MAX_HTML_CHARS = 5_000_000
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " · ", " :: ", " » ")
_SPACE = re.compile(r"\s+")
_SIZE_SUFFIX = re.compile(r"-(?:\d+x\d+|scaled|e\d{10,})(?=\.\w+$)")
_NO_TEXT_FIX = (
    "save the article page itself (not the home page or a list of posts), "
    "or copy its text into a .txt file"
)

# Page widgets the extractor sometimes keeps (prev/next links, share bars, related lists):
# pruned by class name, but never a container holding the page's <h1> or the article itself.
_WIDGETS = ("pagination", "post-navigation", "share", "related-post", "relatedposts")
_WIDGETS += ("recent-posts", "cookie", "consent")
_PRUNE = "//*[not(self::html or self::body or self::main or self::article)][not(.//h1)][{}]".format(
    " or ".join(f"contains(@class, '{word}') or contains(@id, '{word}')" for word in _WIDGETS)
)

# trafilatura logs each page it rejects; the ArticleError says so already, and without a
# handler Python would print those records on stderr.
for _logger in ("trafilatura", "htmldate", "courlan", "justext"):
    logging.getLogger(_logger).addHandler(logging.NullHandler())


def parse_html(text: str, *, where: str, base_url: str | None) -> Article:
    if len(text) > MAX_HTML_CHARS:
        raise ArticleError(
            f"the page is {len(text):,} characters; at most {MAX_HTML_CHARS:,} are read",
            where=where,
            fix="save the article page without embedded images or scripts (Save Page As → "
            "'Web Page, HTML only')",
        )
    try:
        return _parse(resolve_bad_char_refs(xml_clean(text)), where=where, base_url=base_url)
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
    if base:
        # trafilatura resolves relative links against the site root only ("../x" goes wrong)
        page.make_links_absolute(base, resolve_base_href=False, handle_failures="discard")
    extracted = _extract(page, base_url=base, where=where)
    info, body = _split_output(extracted)

    walker = BlockReader(base)
    blocks = walker.read(body)

    title = _title(info.get("title") or meta.get("h1") or meta.get("title") or "", info, meta)
    blocks = _drop_title_heading(blocks, title)
    blocks, sources = _split_sources(blocks)
    hero, hero_alt, blocks = _hero(blocks, meta, walker)
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
        summary=clean_text(info.get("description") or meta.get("description") or ""),
        hero_image=hero,
        hero_alt=hero_alt,
        sources=sources,
        author=clean_text(meta.get("author") or info.get("author", "").replace("; ", ", "))[:200],
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
            meta.setdefault(tag, clean_text(found.text_content()))
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
            prune_xpath=_PRUNE,
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
    title = clean_text(raw)
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
    tags = (clean_text(tag) for tag in re.split(r"[;,]", value))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


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
        inlines = block.items if isinstance(block, ListBlock) else (block_inline(block),)
        for inline in inlines:
            source = parse_source(plain(inline))
            link = next((s.href for s in inline if s.href), None)
            if source.text:
                sources.append(replace(source, url=link or source.url))
    return blocks[:index], tuple(sources)


def _hero(
    blocks: list[Block], meta: dict[str, str], walker: BlockReader
) -> tuple[str | None, str, list[Block]]:
    """og:image (or the first image of the article); that image leaves the body."""
    declared = meta.get("og:image") or meta.get("og:image:url") or meta.get("twitter:image")
    hero = walker.url(declared) if declared else None
    alt = clean_text(meta.get("og:image:alt") or meta.get("twitter:image:alt") or "")
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
                clean_text(v)
                for k, v in meta.items()
                if k.startswith("alt:") and _same_image(k[4:], hero)
            ),
            "",
        )
    return hero, alt, blocks


def _same_image(a: str, b: str | None) -> bool:
    """Same picture, possibly another size or CDN: compare the file names."""
    return b is not None and _file_name(a) != "" and _file_name(a) == _file_name(b)


def _file_name(url: str) -> str:
    try:
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].lower()
    except ValueError:
        return ""
    return _SIZE_SUFFIX.sub("", name)  # WordPress resizes: photo-1024x683.jpg, photo-scaled.jpg


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
