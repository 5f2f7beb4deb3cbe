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
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from lxml import etree

from newsletter.articles.marks import Marks
from newsletter.articles.page import PageMeta, host_words
from newsletter.articles.sanitize import clean_heading, clean_text

_QUOTES = str.maketrans({c: "'" for c in "‘’‚‛′`´"} | {c: '"' for c in "“”„‟″«»"})
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−"})
_WORD = re.compile(r"\w+")
_SEPARATORS = (" | ", " || ", " · ", " • ", " » ", " › ", " :: ", " — ", " – ", " - ", " / ", " ~ ")
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


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES).translate(_DASHES)
    return _WORD.findall(text)


def _contiguous(needle: list[str], haystack: list[str]) -> int:
    """Start of `needle` inside `haystack`, or -1."""
    n = len(needle)
    if not n or n > len(haystack):
        return -1
    first = needle[0]
    for index, word in enumerate(haystack):
        if word == first and haystack[index : index + n] == needle:
            return index
    return -1


def _whole(candidate: list[str], source: list[str]) -> float:
    if candidate == source:
        return 1.0
    if _contiguous(candidate, source) >= 0:  # the source adds a site name or a kicker
        share = len(candidate) / len(source)
    elif _contiguous(source, candidate) >= 0:  # the heading adds a kicker, date or label
        share = len(source) / len(candidate)
    else:
        common = len(set(candidate) & set(source))
        overlap = common / max(len(set(candidate)), len(set(source)))
        return overlap * 0.9 if overlap >= 0.5 else 0.0
    return 0.9 if share >= 0.6 else share


def agreement(candidate: list[str], source: list[str], parts: list[list[str]] = ()) -> float:
    """How much a metadata text (or one of its `parts`, split at ` | `, ` - `…) says the
    candidate is the headline, 0–1."""
    if not candidate or not source:
        return 0.0
    found = _whole(candidate, source) if not parts else float(candidate == source)
    for index, part in enumerate(parts):
        # "Headline | Section | Site" is the usual order: a later part is likelier the site
        discount = 1.0 if index == 0 else (0.75 if index == len(parts) - 1 else 0.9)
        found = max(found, discount * _whole(candidate, part))
    return found


def split_parts(text: str) -> list[str]:
    """A title's parts at the first separator it uses (`Headline | Section | Site`)."""
    for separator in _SEPARATORS:
        if separator in text:
            return [p.strip() for p in text.split(separator) if p.strip()]
    return []


def _slug_words(candidate: list[str]) -> list[list[str]]:
    """The candidate as a URL slug would spell it (ü → ue or u, ß → ss)."""
    translit = [w.translate(_TRANSLIT) for w in candidate]
    stripped = [
        "".join(c for c in unicodedata.normalize("NFKD", w) if not unicodedata.combining(c))
        for w in candidate
    ]
    return [translit, stripped]


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})


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
    site = _site_words(meta, page_url) + _branding(marks)
    sources = _metadata(meta, page_url, site)
    headings = [h for h in _headings(page, marks, anchor, sources, site) if h.text]
    best = max(headings, key=lambda h: h.score, default=None)
    supported = [h for h in headings if h.support >= 0.6 and h.score > 0.3]
    if supported:
        return _trim(max(supported, key=lambda h: h.score), sources)
    consensus = _consensus(sources)
    if consensus:
        return _strip(consensus, site)
    if best is not None and best.score >= 0.9:
        return best.text
    for key in ("og", "ld", "twitter", "dc"):
        text = next((text for name, text, _ in sources if name == key), "")
        if text:
            return _strip(text, site)
    stripped = _strip(meta.title, site)
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


def _metadata(
    meta: PageMeta, page_url: str | None, site: list[list[str]]
) -> list[tuple[str, str, float]]:
    found = [
        ("og", clean_text(meta.get("og:title")), 1.0),
        ("ld", meta.headline or meta.ld_name, 1.0),
        ("twitter", clean_text(meta.get("twitter:title")), 0.7),
        ("dc", clean_text(meta.get("dc.title", "dcterms.title", "citation_title")), 0.7),
        ("title", _strip(meta.title, site) or meta.title, 1.0),
        ("slug", _slug(meta.canonical or meta.get("og:url") or page_url or ""), 0.6),
    ]
    return [(name, text[:_MAX_TITLE], weight) for name, text, weight in found if text]


def _slug(url: str) -> str:
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return ""
    segments = [s for s in path.split("/") if s and not s.isdigit()]
    if not segments:
        return ""
    last = re.sub(r"\.(html?|php|aspx?)$", "", segments[-1])
    pieces = [p for p in re.split(r"[-_+,]+", last) if p and not p.isdigit()]
    return " ".join(pieces) if len(pieces) >= 3 else ""


def _site_words(meta: PageMeta, page_url: str | None) -> list[list[str]]:
    names = [words(name) for name in meta.site_names]
    url = meta.canonical or meta.get("og:url") or page_url or ""
    hosts = host_words(url)
    if hosts:
        names.append(sorted(hosts))
    return [n for n in names if n]


_TLDS = {"com", "de", "org", "net", "co", "uk", "fr", "at", "ch", "io", "info", "eu", "us",
         "ca", "au", "nl", "es", "it", "example", "www", "online", "blog", "news"}  # fmt: skip


_BRANDING = re.compile(r"site-title|site-name|logo|site-branding|brand")


def _branding(marks: Marks) -> list[list[str]]:
    """The site's name as its header shows it (logo text or alt, site title)."""
    names: list[list[str]] = []
    for element in marks.matching(_BRANDING, rel="home")[:8]:
        text = element.text_content()
        if len(text) > 200:
            continue
        texts = [clean_text(text)]
        texts += [clean_text(img.get("alt") or "")[:80] for img in element.iter("img")]
        for text in texts:
            found = words(text)
            if found and len(found) <= 6:
                names.append(found)
    return names


def _is_site_name(text_words: list[str], site: list[list[str]]) -> bool:
    text_words = [w for w in text_words if w not in _TLDS] or text_words
    joined = "".join(text_words)
    for name in site:
        if text_words == name or joined == "".join(name):
            return True
        name_joined = "".join(name)
        if set(text_words) <= set(name):
            return True
        if joined and joined in name_joined and len(joined) >= 0.6 * len(name_joined):
            return True
    return False


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
    candidates = [*page.iter("h1", "h2", "h3"), *marked]
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
        if _is_site_name(text_words, site) or _LABELS.match(text.rstrip(":")):
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
            total += weight * max(agreement(form, source) for form in _slug_words(text_words))
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
        start = _contiguous(source, best.words)
        if start >= 0 and len(source) >= 3 and len(best.words) - len(source) <= 3:
            extra = best.words[:start] + best.words[start + len(source) :]
            if all(w.isdigit() or len(w) <= 3 or w in _MONTHS for w in extra):
                return text
    return best.text


_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct",
           "nov", "dec", "updated", "posted", "published", "blog", "news"}  # fmt: skip


def _consensus(sources: list[tuple[str, str, float]]) -> str:
    """Metadata that another source agrees with (the slug only ever agrees)."""
    best, best_support = "", 0.0
    for name, text, _ in sources:
        if name == "slug":
            continue
        own = words(text)
        support = sum(
            w * agreement(own, words(other), [words(p) for p in split_parts(other)])
            for other_name, other, w in sources
            if other_name != name
        )
        if support > best_support + 1e-9 or (
            abs(support - best_support) < 1e-9 and best and len(text) < len(best)
        ):
            best, best_support = text, support
    return best if best_support >= 0.6 else ""


def _strip(title: str, site: list[list[str]]) -> str:
    title = clean_text(title)
    if not title:
        return ""
    for separator in _SEPARATORS:
        if separator not in title:
            continue
        parts = [p.strip() for p in title.split(separator) if p.strip()]
        while len(parts) > 1 and _is_site_name(words(parts[-1]), site):
            parts.pop()
        while len(parts) > 1 and _is_site_name(words(parts[0]), site):
            parts.pop(0)
        kept = separator.join(parts)
        if kept != title:
            return kept
    return title
