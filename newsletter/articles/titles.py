"""An HTML page's own headline, chosen by agreement between what the page says.

Candidates: the visible headings near the start of the extracted article (h1, h2, and
elements marked as the headline), and the page's metadata (og:title, twitter:title,
JSON-LD headline, Dublin Core, the `<title>` element, the URL's slug). A visible heading
that the metadata agrees with is the headline; a heading in navigation, a sidebar or a
footer, the site's name and section labels are not. Without a visible match, the
metadata that agrees with itself wins; the `<title>` element comes last, without its
site-name prefix or suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from newsletter.articles.marks import Marks
from newsletter.articles.page import PageMeta
from newsletter.articles.sanitize import clean_heading, clean_text
from newsletter.articles.title_sources import (
    agreement,
    branding,
    consensus,
    contiguous,
    is_site_name,
    metadata,
    site_words,
    slug_forms,
    split_parts,
    strip_site_name,
    words,
)

_CHROME = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|menu|sidebar|side-bar|widget|footer|breadcrumbs?|"
    r"related|recommended|comments?|masthead|site-?title|site-?name|site-?branding|logo|"
    r"brand|banner|promo|teaser|newsletter|subscribe|share|social|popular|trending|"
    r"more-stories|read-next|author-?bio|cookie|consent|modal|toc|table-of-contents|"
    r"pagination|post-navigation|nav-links|archive|sr-only|screen-reader)($|[\s_-])",
    re.I,
)
_CHROME_TAGS = {"nav", "aside", "footer", "form", "button", "select", "label"}
_CHROME_CLASSES = {"header", "head", "site-header", "site-head", "masthead", "topbar", "top-bar",
                   "global-header", "navbar", "top", "l-header", "page-top"}  # fmt: skip
_HEADLINE_CLASS = re.compile(
    r"(entry|post|article|page|story|blog|item|content|news)[-_]?(title|headline|header|"
    r"heading)|headline|^title$",
    re.I,
)
_LABELS = re.compile(
    r"^(home|blog|news|menu|search|contents?|table of contents|related( posts| articles)?|"
    r"recent posts|popular posts|latest( news| posts)?|comments?|leave a (comment|reply)|"
    r"share( this)?|categories|tags|archives?|about( us)?|contact( us)?|subscribe|"
    r"newsletter|navigation|main menu|you may also like|more stories|trending|"
    r"aktuelle artikel|neuigkeiten|menü|kommentare|beitragsnavigation)$",
    re.I,
)
_MAX_TITLE = 300


@dataclass
class _Heading:
    text: str
    words: list[str]
    score: float
    support: float


def choose_title(
    page: etree._Element,
    meta: PageMeta,
    anchor: etree._Element | None,
    page_url: str | None,
    marks: Marks,
) -> str:
    """The page's headline (see the module docstring); "" when the page has none."""
    site = site_words(meta, page_url) + branding(marks)
    sources = metadata(meta, page_url, site)
    headings = [h for h in _headings(page, marks, anchor, sources, site) if h.text]
    best = max(headings, key=lambda h: h.score, default=None)
    supported = [h for h in headings if h.support >= 0.6 and h.score > 0.3]
    if supported:
        return _trim(max(supported, key=lambda h: h.score), sources)
    agreed = consensus(sources)
    if agreed:
        return strip_site_name(agreed, site)
    if best is not None and best.score >= 0.9:
        return best.text
    for key in ("og", "ld", "twitter", "dc"):
        text = next((text for name, text, _ in sources if name == key), "")
        if text:
            return strip_site_name(text, site)
    stripped = strip_site_name(meta.title, site)
    if stripped:
        return stripped
    return best.text if best is not None and best.score > 0 else ""


def first_heading(page: etree._Element) -> str:
    """The first heading of a page that names nothing else: a title of last resort."""
    for element in page.iter("h1", "h2", "h3"):
        text = clean_text(element.text_content())
        if text and len(text) <= _MAX_TITLE:
            return text
    return ""


def _headings(
    page: etree._Element,
    marks: Marks,
    anchor: etree._Element | None,
    sources: list[tuple[str, str, float]],
    site: list[list[str]],
) -> list[_Heading]:
    anchor_path = _path(anchor) if anchor is not None else []
    found: list[_Heading] = []
    source_words = [
        (name, words(text), [words(part) for part in split_parts(text)], weight)
        for name, text, weight in sources
    ]
    marked = [
        e
        for e in marks.matching(_HEADLINE_CLASS, itemprop="headline")
        if e.tag in ("header", "div", "span", "p", "a", "strong")
    ]
    headings: dict[str, list[etree._Element]] = {"h1": [], "h2": [], "h3": []}
    for element in page.iter("h1", "h2", "h3"):
        headings[element.tag].append(element)
    # a listing page has hundreds of h2/h3 teasers: the headline is among the first ones
    candidates = [*headings["h1"][:20], *headings["h2"][:30], *headings["h3"][:20], *marked[:20]]
    for element in candidates:
        tag = element.tag
        raw = element.text_content()
        if len(raw) > 2 * _MAX_TITLE:
            continue
        text = clean_heading(raw)
        if not text or len(text) > _MAX_TITLE:
            continue
        text_words = words(text)
        if not text_words or len(text_words) > 40:
            continue
        support = _support(text_words, source_words)
        score = support + _position(element, tag, anchor, anchor_path)
        if is_site_name(text_words, site) or _LABELS.match(text.rstrip(":")):
            score -= 3
            support = 0
        found.append(_Heading(text, text_words, score, support))
        if len(found) > 300:
            break
    return found


def _support(text_words: list[str], sources: list) -> float:
    total = 0.0
    for name, source, parts, weight in sources:
        if name == "slug":
            total += weight * max(agreement(form, source) for form in slug_forms(text_words))
        else:
            total += weight * agreement(text_words, source, parts)
    return total


def _position(
    element: etree._Element, tag: str, anchor: etree._Element | None, anchor_path: list
) -> float:
    score = {"h1": 0.4, "h2": 0.15, "h3": 0.0}.get(tag, 0.1)
    marker = f"{element.get('class') or ''} {element.get('itemprop') or ''}"
    if "headline" in marker.lower() or _HEADLINE_CLASS.search(marker):
        score += 0.3
    ancestors = list(element.iterancestors())
    for ancestor in ancestors:
        marks = f"{ancestor.get('class') or ''} {ancestor.get('id') or ''}"
        if (
            ancestor.tag in _CHROME_TAGS
            or _CHROME.search(f"{marks} {ancestor.get('role') or ''}")
            or set(marks.lower().split()) & _CHROME_CLASSES
            or (
                ancestor.tag == "header"
                and ancestor.getparent() is not None
                and ancestor.getparent().tag == "body"
            )
        ):
            score -= 1.2
            break
        if ancestor.tag in ("article", "main") or ancestor.get("role") == "main":
            score += 0.2
            break
    if anchor is None:
        return score
    path = [*reversed(ancestors), element]
    common = 0
    while common < min(len(path), len(anchor_path)) and path[common] is anchor_path[common]:
        common += 1
    distance = (len(path) - common) + (len(anchor_path) - common)
    if common == len(path):  # the heading contains the article's first paragraph
        return score - 0.5
    before = common < len(anchor_path) and _precedes(path[common], anchor_path[common])
    if before:
        score += max(0.0, 0.7 - 0.06 * distance)
    else:
        score -= 0.4
    return score


def _path(element: etree._Element) -> list[etree._Element]:
    return [*reversed(list(element.iterancestors())), element]


def _precedes(a: etree._Element, b: etree._Element) -> bool:
    """Whether sibling `a` comes before sibling `b`."""
    parent = a.getparent()
    if parent is None or b.getparent() is not parent:
        return False
    return parent.index(a) < parent.index(b)


def _trim(best: _Heading, sources: list[tuple[str, str, float]]) -> str:
    """A heading that is og:title/headline plus a date or label keeps only the headline."""
    for name, text, _ in sources:
        if name not in ("og", "ld", "twitter"):
            continue
        source = words(text)
        start = contiguous(source, best.words)
        if start >= 0 and len(source) >= 3 and len(best.words) - len(source) <= 3:
            extra = best.words[:start] + best.words[start + len(source) :]
            if all(w.isdigit() or len(w) <= 3 or w in _MONTHS for w in extra):
                return text
    return best.text


_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct",
           "nov", "dec", "updated", "posted", "published", "blog", "news"}  # fmt: skip
