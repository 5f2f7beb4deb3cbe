"""Where a page's headline candidates come from and how they agree: its metadata (og:title,
twitter:title, JSON-LD, Dublin Core, `<title>` split at its separators, the URL's slug),
the site's own name (to be left out), and the word-level agreement between two texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from newsletter.articles.marks import Marks
from newsletter.articles.page import PageMeta, host_words
from newsletter.articles.sanitize import clean_text

_MAX_TITLE = 300

_QUOTES = str.maketrans({c: "'" for c in "‘’‚‛′`´"} | {c: '"' for c in "“”„‟″«»"})
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−"})
_WORD = re.compile(r"\w+")
_SEPARATORS = (" | ", " || ", " · ", " • ", " » ", " › ", " :: ", " — ", " – ", " - ", " / ", " ~ ")


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES).translate(_DASHES)
    return _WORD.findall(text)


def contiguous(needle: list[str], haystack: list[str]) -> int:
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
    if contiguous(candidate, source) >= 0:  # the source adds a site name or a kicker
        share = len(candidate) / len(source)
    elif contiguous(source, candidate) >= 0:  # the heading adds a kicker, date or label
        share = len(source) / len(candidate)
    else:
        common = len(set(candidate) & set(source))
        overlap = common / max(len(set(candidate)), len(set(source)))
        return overlap * 0.9 if overlap >= 0.5 else 0.0
    return 0.9 if share >= 0.6 else share


def agreement(candidate: list[str], source: list[str], parts: Sequence[list[str]] = ()) -> float:
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


def slug_forms(candidate: list[str]) -> list[list[str]]:
    """The candidate as a URL slug would spell it (ü → ue or u, ß → ss)."""
    translit = [w.translate(_TRANSLIT) for w in candidate]
    stripped = [
        "".join(c for c in unicodedata.normalize("NFKD", w) if not unicodedata.combining(c))
        for w in candidate
    ]
    return [translit, stripped]


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})


def metadata(
    meta: PageMeta, page_url: str | None, site: list[list[str]]
) -> list[tuple[str, str, float]]:
    found = [
        ("og", clean_text(meta.get("og:title")), 1.0),
        ("ld", meta.headline or meta.ld_name, 1.0),
        ("twitter", clean_text(meta.get("twitter:title")), 0.7),
        ("dc", clean_text(meta.get("dc.title", "dcterms.title", "citation_title")), 0.7),
        ("title", strip_site_name(meta.title, site) or meta.title, 1.0),
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


def site_words(meta: PageMeta, page_url: str | None) -> list[list[str]]:
    names = [words(name) for name in meta.site_names]
    url = meta.canonical or meta.get("og:url") or page_url or ""
    hosts = host_words(url)
    if hosts:
        names.append(sorted(hosts))
    return [n for n in names if n]


_TLDS = {"com", "de", "org", "net", "co", "uk", "fr", "at", "ch", "io", "info", "eu", "us",
         "ca", "au", "nl", "es", "it", "example", "www", "online", "blog", "news"}  # fmt: skip


_BRANDING = re.compile(r"site-title|site-name|logo|site-branding|brand")


def branding(marks: Marks) -> list[list[str]]:
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


def is_site_name(text_words: list[str], site: list[list[str]]) -> bool:
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


def consensus(sources: list[tuple[str, str, float]]) -> str:
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


def strip_site_name(title: str, site: list[list[str]]) -> str:
    title = clean_text(title)
    if not title:
        return ""
    for separator in _SEPARATORS:
        if separator not in title:
            continue
        parts = [p.strip() for p in title.split(separator) if p.strip()]
        while len(parts) > 1 and is_site_name(words(parts[-1]), site):
            parts.pop()
        while len(parts) > 1 and is_site_name(words(parts[0]), site):
            parts.pop(0)
        kept = separator.join(parts)
        if kept != title:
            return kept
    return title
