"""HTML blog pages → Article.

The page is parsed once with lxml. Its own metadata is read (`page`), tracking pixels are
removed, lazy images, pictures and videos are rewritten to plain images (`media`), and
relative URLs resolved; trafilatura keeps the main article (on a copy: the page is needed
afterwards), nh3 reduces it to the email allowlist, and the sanitised tree is read into
blocks (`reader`). The headline is chosen by agreement between the page's candidates
(`titles`), page chrome the extractor kept is dropped (`chrome`), and the shared rules
shape the rest (`structure`, `inference`).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
from dataclasses import replace
from typing import cast

import trafilatura
from lxml import etree, html

from newsletter.articles.chrome import byline, is_chrome_line
from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    title_from_name,
    xml_clean,
)
from newsletter.articles.marks import Marks, drop_widgets
from newsletter.articles.media import collect_captions, prepare_media
from newsletter.articles.model import Article, Block, Heading, Image, Paragraph, plain
from newsletter.articles.page import PageMeta, read_page, visible_byline
from newsletter.articles.reader import BlockReader
from newsletter.articles.sanitize import clean_text, drop_trackers, resolve_bad_char_refs
from newsletter.articles.structure import (
    drop_title_heading,
    hero,
    same_text,
    sections,
    split_sources,
)
from newsletter.articles.title_sources import words
from newsletter.articles.titles import choose_title, first_heading
from newsletter.articles.urls import Urls, absolute, choose_base
from newsletter.errors import ArticleError

MAX_HTML_CHARS = 5_000_000
_NO_TEXT_FIX = (
    "save the article page itself (not the home page or a list of posts), "
    "or copy its text into a .txt file"
)
# Page widgets the extractor sometimes keeps (prev/next links, share bars, related lists):
# pruned by class name, but never a container holding the page's <h1>, the article itself,
# or paragraphs of text (an article inside <div class="share-zone"> is still the article).
_WIDGETS: tuple[str, ...] = (
    "pagination",
    "post-navigation",
    "share",
    "related-post",
    "relatedposts",
)
_WIDGETS += ("recent-posts", "cookie", "consent", "breadcrumb", "author-bio", "newsletter")
_WIDGETS += ("subscription-widget", "subscribe-widget", "button-wrapper")
_WIDGET_MARKS = re.compile("|".join(re.escape(word) for word in _WIDGETS))
_LINKED = ("href", "src")
_INERT = ("script", "style", "svg", "template", "math", "canvas", "link", "object", "embed")
_DOCUMENT_TAGS = re.compile(r"<(html|head|body|title|meta)\b", re.I)
_BODY_CLASSES = (
    "w-richtext", "entry-content", "post-content", "article-content", "article-body",
    "articleBody", "post-body", "blog-post-content", "blog-content", "story-body",
    "c-article-body", "article__body", "article__content", "post__content", "gh-content",
    "markdown-body", "rich-text", "field--name-body", "td-post-content",
    "elementor-widget-theme-post-content",
)  # fmt: skip
_BODY_MARKS = re.compile(
    r"(^|\s)(" + "|".join(re.escape(name.lower()) for name in _BODY_CLASSES) + r")(\s|$)"
)

# trafilatura logs each page it rejects; the ArticleError says so already, and without a
# handler Python would print those records on stderr.
for _logger in ("trafilatura", "htmldate", "courlan", "justext"):
    logging.getLogger(_logger).addHandler(logging.NullHandler())


def parse_html(
    text: str,
    *,
    where: str,
    base_url: str | None,
    site_url: str | None = None,
    name: str = "",
) -> Article:
    if len(text) > MAX_HTML_CHARS:
        raise ArticleError(
            f"the page is {len(text):,} characters; at most {MAX_HTML_CHARS:,} are read",
            where=where,
            fix="save the article page without embedded images or scripts (Save Page As → "
            "'Web Page, HTML only')",
        )
    try:
        return _parse(
            resolve_bad_char_refs(xml_clean(text)),
            where=where,
            base_url=base_url,
            site_url=site_url,
            name=name,
        )
    except RecursionError:
        raise ArticleError(
            "the page is nested too deeply to read", where=where, fix=_NO_TEXT_FIX
        ) from None


def _parse(
    text: str, *, where: str, base_url: str | None, site_url: str | None, name: str
) -> Article:
    page = _load(text)
    if page is None:
        raise ArticleError("no HTML content found in this file", where=where, fix=_NO_TEXT_FIX)
    meta = read_page(page)
    own_url = absolute(meta.canonical) or absolute(meta.get("og:url"))
    base = choose_base(base_url, [meta.canonical, meta.get("og:url")], site_url)
    media = prepare_media(page)  # first: a lazy image's placeholder is a data: URL
    # Scripts (JSON-LD is read already), styles and icon sprites can be most of a page's
    # bytes and elements; nothing after this reads them.
    etree.strip_elements(page, *_INERT, with_tail=False)
    drop_trackers(page)
    _protocol_relative(page)
    collect_captions(page, media)  # relative URLs stay as written: `Urls` resolves them
    marks = drop_widgets(page, _WIDGET_MARKS)
    if _is_fragment(text, page):
        # a post's body alone (a Substack export, a CMS snippet): all of it is the article
        container = page.find("body")
        if container is None:
            raise ArticleError(
                "no article text found in this HTML page", where=where, fix=_NO_TEXT_FIX
            )
        body = (container.text or "") + "".join(
            html.tostring(child, encoding="unicode") for child in container
        )
    else:
        extracted = _extract(copy.deepcopy(page), where=where)  # the extractor changes it
        body = _body(_second_look(marks, extracted, where=where))
    urls = Urls(base)
    blocks = BlockReader(urls, media).read(body)

    title = (
        choose_title(page, meta, _anchor(page, blocks), own_url or base, marks)
        or title_from_name(name)
        or first_heading(page)
    )
    if not title:
        raise ArticleError(
            "the page has no title", where=where, fix="add a <title> or an <h1> to the page"
        )
    blocks = _drop_headline(blocks, title)
    blocks, author, date = _drop_chrome(blocks)
    if not (meta.author or author) or not (meta.date or date):
        shown_author, shown_date = visible_byline(page, marks)
        author, date = author or shown_author, date or shown_date
    blocks, sources = split_sources(blocks)
    declared = meta.get("og:image", "og:image:url", "twitter:image") or meta.ld_image
    hero_src = urls.image(declared) if declared else None
    hero_alt = clean_text(meta.get("og:image:alt", "twitter:image:alt"))
    hero_src, hero_alt, blocks = hero(blocks, hero_src, hero_alt, anywhere=True)
    if hero_src and not hero_alt:
        hero_alt = _alt_for(hero_src, meta)
    warnings = list(urls.warnings)
    if urls.relative_links:
        warnings.append(
            "some links have relative addresses and were kept as they are: the page has no "
            "canonical link; pass --base-url with the page's address"
        )
    article = Article(
        title=title,
        sections=sections(blocks),
        summary=clean_text(meta.get("og:description", "description", "twitter:description"))
        or meta.ld_description,
        hero_image=hero_src,
        hero_alt=hero_alt,
        sources=sources,
        author=(meta.author or author)[:200],
        date=meta.date or date,
        canonical_url=own_url or absolute(base_url),  # never the website's home page
        tags=_tags(
            ", ".join(meta.article_tags)
            or meta.get("keywords", "news_keywords")
            or meta.ld_keywords
        ),
        format="html",
        warnings=tuple(warnings),
    )
    if not any(p.text for p in article.paragraphs):
        raise ArticleError("no article text found in this HTML page", where=where, fix=_NO_TEXT_FIX)
    cta = find_call_to_action(article.sections)
    if cta:
        article = replace(article, call_to_action=cta)
    return complete(article, where=where)


# --- page loading ------------------------------------------------------------------------


def _load(text: str) -> html.HtmlElement | None:
    parser = html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        page = html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError):
        return None
    return page if isinstance(page, html.HtmlElement) else None


def _is_fragment(text: str, page: html.HtmlElement) -> bool:
    """Markup without a document around it and without page furniture."""
    if _DOCUMENT_TAGS.search(text[:20000]):
        return False
    return not page.xpath("//nav|//header|//footer|//aside")


def _protocol_relative(page: html.HtmlElement) -> None:
    """`//host/x` → `https://host/x` (an email has no page protocol to borrow)."""
    for element in page.xpath("//*[starts-with(@href, '//') or starts-with(@src, '//')]"):
        for name in _LINKED:
            value = element.get(name)
            if value and value.startswith("//"):
                element.set(name, "https:" + value)


def _extract(page: html.HtmlElement, *, where: str) -> str:
    try:
        result = trafilatura.extract(
            page,
            output_format="html",
            with_metadata=False,
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


def _second_look(marks: Marks, extracted: str, *, where: str) -> str:
    """When the page marks its article body (`itemprop=articleBody`, `.entry-content`,
    Webflow's `.w-richtext`…) and that body holds much more text than the extractor kept,
    the extractor missed the body (it then keeps loose paragraphs only): extract again
    from the marked body alone, and keep whichever holds more."""
    body = _marked_body(marks)
    if body is None:
        return extracted
    kept = len(" ".join(html.document_fromstring(extracted).text_content().split()))
    available = len(" ".join(body.text_content().split()))
    if available < kept * 1.2 + 100:
        return extracted
    alone = html.document_fromstring("<html><body><article></article></body></html>")
    alone.find("body/article").append(copy.deepcopy(body))
    try:
        again = _extract(alone, where=where)
    except ArticleError:
        return extracted
    again_kept = len(" ".join(html.document_fromstring(again).text_content().split()))
    return again if again_kept > kept * 1.1 else extracted


def _marked_body(marks: Marks) -> etree._Element | None:
    found = marks.matching(_BODY_MARKS, itemprop="articlebody")
    if not found:
        return None
    best = max(found[:40], key=lambda e: len(e.text_content()))
    return best if len(best.text_content()) >= 400 else None


def _body(extracted: str) -> str:
    """trafilatura's HTML output: the article is the body's content."""
    document = html.document_fromstring(
        extracted.encode("utf-8"), parser=html.HTMLParser(encoding="utf-8")
    )
    body = document.find("body")
    if body is None:
        return ""
    return (body.text or "") + "".join(html.tostring(child, encoding="unicode") for child in body)


def _anchor(page: html.HtmlElement, blocks: list[Block]) -> etree._Element | None:
    """The page element holding the article's first real paragraph."""
    for block in blocks[:8]:
        if not isinstance(block, Paragraph) or len(block.text.split()) < 8:
            continue
        for span in block.inline:
            snippet = " ".join(span.text.split()[:6])
            if len(snippet) < 15:
                continue
            found = page.xpath(
                "//body//text()[contains(normalize-space(.), $s)]"
                "[not(ancestor::script or ancestor::style or ancestor::noscript)]",
                s=snippet,
            )
            if found:
                node = found[0]
                parent = node.getparent()
                if parent is not None and getattr(node, "is_tail", False):
                    parent = parent.getparent()
                return parent
        return None
    return None


# --- after extraction ------------------------------------------------------------------


def _drop_headline(blocks: list[Block], title: str) -> list[Block]:
    """The headline (and a heading that is the headline with a kicker or date) leaves the
    body: it is the email's title already."""
    blocks = drop_title_heading(blocks, title)
    title_words = words(title)
    for index, block in enumerate(blocks[:4]):
        if isinstance(block, Heading | Paragraph) and not isinstance(block, Image):
            text = block.text
            text_words = words(text)
            if text_words and (
                same_text(text, title)
                or (isinstance(block, Heading) and _contains(text_words, title_words))
            ):
                return blocks[:index] + blocks[index + 1 :]
        if isinstance(block, Paragraph) and len(block.text.split()) > 20:
            break
    return blocks


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _drop_chrome(blocks: list[Block]) -> tuple[list[Block], str, dt.date | None]:
    """Bylines before the text (their author and date are kept) and chrome paragraphs."""
    kept: list[Block] = []
    author, date = "", cast("dt.date | None", None)
    started = False
    for block in blocks:
        if isinstance(block, Paragraph):
            text = block.text
            if is_chrome_line(text):
                continue
            if not started:
                facts = byline(text)
                if facts is not None:
                    author = author or facts.author
                    date = date or facts.date
                    continue
            if len(text.split()) >= 12:
                started = True
        kept.append(block)
    return kept, author, date


def _alt_for(src: str, meta: PageMeta) -> str:
    from newsletter.articles.structure import same_image

    return next(
        (clean_text(alt) for key, alt in meta.alts.items() if same_image(key, src)),
        "",
    )


def _tags(value: str) -> tuple[str, ...]:
    tags = (clean_text(tag) for tag in re.split(r"[;,]", value))
    return tuple(dict.fromkeys(tag for tag in tags if tag))[:20]


__all__ = ["parse_html", "plain"]
