"""What a saved page says about itself: meta tags, JSON-LD, Dublin Core, canonical link,
`<title>`, site name, publication date and author.

Read once from the parsed page, before extraction (the extractor is run without its own
metadata pass, which costs more than this and guesses less).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import html

from newsletter.articles.dates import parse_date
from newsletter.articles.marks import Marks
from newsletter.articles.sanitize import clean_text

_ARTICLE_TYPES = {
    "article", "newsarticle", "blogposting", "reportage", "analysisnewsarticle", "report",
    "medicalwebpage", "scholarlyarticle", "techarticle", "socialmediaposting", "posting",
    "medicalscholarlyarticle", "opinionnewsarticle", "reviewnewsarticle", "webpage",
    "healthtopiccontent", "howto", "liveblogposting", "backgroundnewsarticle",
}  # fmt: skip
_JSON_LD_LIMIT = 300_000


@dataclass
class PageMeta:
    meta: dict[str, str] = field(default_factory=dict)  # meta name/property → content
    canonical: str = ""
    title: str = ""  # the <title> element
    headline: str = ""  # JSON-LD headline of the article
    ld_name: str = ""
    ld_description: str = ""
    ld_image: str = ""
    ld_author: str = ""
    ld_date: str = ""
    ld_keywords: str = ""
    publisher: str = ""
    alts: dict[str, str] = field(default_factory=dict)  # img src → alt
    article_tags: list[str] = field(default_factory=list)  # every article:tag

    def get(self, *keys: str) -> str:
        return next((self.meta[k] for k in keys if self.meta.get(k)), "")

    @property
    def site_names(self) -> list[str]:
        names = [self.get("og:site_name", "application-name", "twitter:site"), self.publisher]
        return [clean_text(n).lstrip("@") for n in names if n and clean_text(n)]

    @property
    def date(self) -> dt.date | None:
        for value in (
            self.get("article:published_time", "og:published_time", "datepublished"),
            self.ld_date,
            self.get("date", "pubdate", "publishdate", "dc.date", "dcterms.date", "dc.date.issued"),
            self.get(
                "sailthru.date",
                "parsely-pub-date",
                "article.published",
                "cxenseparse:recs:publishtime",
            ),
        ):
            found = parse_date(value) if value else None
            if found:
                return found
        return None

    @property
    def author(self) -> str:
        value = self.get(
            "author", "article:author", "dc.creator", "parsely-author", "sailthru.author"
        )
        if value.startswith(("http://", "https://")):
            value = ""
        return clean_text(self.ld_author or value)


def read_page(page: html.HtmlElement) -> PageMeta:
    found = PageMeta()
    head = page.find("head")
    scope = head if head is not None and len(head) else page
    for element in scope.iter("meta") if scope is not page else page.iter("meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop") or ""
        key = key.strip().lower()
        content = (element.get("content") or "").strip()
        if key and content:
            found.meta.setdefault(key, content)
            if key == "article:tag":
                found.article_tags.append(content)
    if scope is not page:  # a few CMSes put their meta tags in the body
        for element in page.iterfind(".//body//meta[@property]"):
            key = (element.get("property") or "").strip().lower()
            if key and element.get("content"):
                found.meta.setdefault(key, element.get("content", "").strip())
    for element in page.iter("link"):
        if "canonical" in (element.get("rel") or "").lower().split() and element.get("href"):
            found.canonical = found.canonical or element.get("href", "").strip()
    title = next(page.iter("title"), None)
    if title is not None:
        found.title = clean_text(title.text_content())
    for index, img in enumerate(page.iter("img")):
        if index > 500:
            break
        if img.get("src") and img.get("alt"):
            found.alts.setdefault(img.get("src", "").strip(), img.get("alt", ""))
    _json_ld(page, found)
    return found


def _json_ld(page: html.HtmlElement, found: PageMeta) -> None:
    total = 0
    for script in page.iterfind(".//script[@type]"):
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        text = script.text or ""
        total += len(text)
        if total > _JSON_LD_LIMIT:
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            continue
        for item in _items(data):
            types = item.get("@type")
            kinds = {str(t).lower() for t in (types if isinstance(types, list) else [types])}
            if "organization" in kinds or "newsmediaorganization" in kinds:
                found.publisher = found.publisher or _text(item.get("name"))
            if not kinds & _ARTICLE_TYPES:
                continue
            article_like = bool(kinds - {"webpage"})
            if article_like or not found.headline:
                found.headline = _text(item.get("headline")) or found.headline
                found.ld_name = found.ld_name or _text(item.get("name"))
            found.ld_description = found.ld_description or _text(item.get("description"))
            found.ld_image = found.ld_image or _image(item.get("image"))
            found.ld_author = found.ld_author or _names(item.get("author"))
            found.ld_date = found.ld_date or _text(item.get("datePublished"))
            found.ld_keywords = found.ld_keywords or _keywords(item.get("keywords"))
            publisher = item.get("publisher")
            if isinstance(publisher, dict):
                found.publisher = found.publisher or _text(publisher.get("name"))


def _items(data: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every JSON-LD object that has a @type (top level, lists, @graph, mainEntity)."""
    if depth > 4:
        return []
    if isinstance(data, list):
        return [item for entry in data[:50] for item in _items(entry, depth + 1)]
    if not isinstance(data, dict):
        return []
    found = [data] if "@type" in data else []
    for key in ("@graph", "mainEntity", "mainEntityOfPage"):
        if isinstance(data.get(key), list | dict):
            found.extend(_items(data[key], depth + 1))
    return found


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), "")
    return clean_text(html_unescape(value)) if isinstance(value, str) else ""


def html_unescape(value: str) -> str:
    if "&" not in value:
        return value
    import html as std_html

    return std_html.unescape(value)


def _image(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl") or ""
    return value.strip() if isinstance(value, str) else ""


def _names(value: Any) -> str:
    values = value if isinstance(value, list) else [value]
    names = []
    for item in values[:10]:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip() and not name.startswith("http"):
            names.append(clean_text(name))
    return ", ".join(dict.fromkeys(names))


def _keywords(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:30] if isinstance(v, str))
    return value if isinstance(value, str) else ""


_HOST_WORDS = re.compile(r"[a-z0-9]+")


def host_words(url: str) -> set[str]:
    """`https://www.theguardian.com/…` → {"theguardian"} (the registrable name's words)."""
    match = re.match(r"^[a-z]+://([^/:?#]+)", url.strip().lower())
    if not match:
        return set()
    labels = [label for label in match.group(1).split(".") if label not in ("www", "m", "blog")]
    if len(labels) > 1:
        labels = labels[:-1]  # the top-level domain
    return {word for label in labels for word in _HOST_WORDS.findall(label) if len(word) > 1}


_AUTHOR_MARKS = re.compile(r"author-name|byline|post-author|entry-author")
_META_MARKS = re.compile(r"postmeta|post-meta|entry-meta|post-info|posted")
_DATE_CLASS = re.compile(r"date")
_NEVER = re.compile(r"(?!)")


def visible_byline(page: html.HtmlElement, marks: Marks) -> tuple[str, dt.date | None]:
    """The author and date a page shows in its byline, for pages without metadata."""
    from newsletter.articles.chrome import byline

    author = ""
    authors = [
        *(e for e in page.iter("a") if "author" in (e.get("rel") or "").split()),
        *marks.matching(_AUTHOR_MARKS, itemprop="author"),
    ]
    for element in authors[:10]:
        text = clean_text(element.text_content())
        if not text or len(text.split()) > 12:
            continue
        facts = byline(text)
        if facts is not None and facts.author:
            author = facts.author
        elif facts is None and len(text.split()) <= 6 and not text.endswith((".", ":")):
            author = text
        if author:
            break
    if not author:
        for element in marks.matching(_META_MARKS)[:10]:
            facts = byline(clean_text(element.text_content())[:300])
            if facts is not None and facts.author:
                author = facts.author
                break
    date = None
    dates = [*page.iter("time"), *marks.matching(_NEVER, itemprop="datepublished")]
    for element in [e for e in dates if e.tag != "time" or e.get("datetime")][:10]:
        date = parse_date(element.get("datetime") or element.get("content") or "") or parse_date(
            clean_text(element.text_content())
        )
        if date:
            break
    if date is None:
        for element in marks.matching(_META_MARKS)[:10]:
            facts = byline(clean_text(element.text_content())[:300])
            if facts is not None and facts.date:
                date = facts.date
                break
    if date is None:
        for element in [e for e in marks.matching(_DATE_CLASS) if not len(e)][:10]:
            date = parse_date(clean_text(element.text_content()))
            if date:
                break
    return author, date
