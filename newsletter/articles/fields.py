"""What front matter fields mean, whichever generator wrote them.

Front matter belongs to the site, not to us: Jekyll, Hugo, Gatsby + Netlify CMS, Eleventy,
WordPress and Ghost exports each name things their own way. Keys compare without case,
`-` or `_` (`featuredImage` = `featured_image` = `featuredimage`); for each field the keys
this product has always read come first, then the aliases in the order issue #12 lists
them, and the first one present wins. Values come in the usual shapes (text, a list, or an
object such as `{src, alt}` or `{name}`). Anything else is ignored with one warning that
lists it: a post is never refused for its front matter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsletter.articles.dates import parse_date
from newsletter.articles.inference import parse_source, safe_url
from newsletter.articles.model import CallToAction, Source

ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "heading"),
    "summary": (
        "summary", "preheader", "description", "excerpt", "subtitle", "dek", "lede",
        "customexcerpt", "metadescription",
    ),
    "image": (
        "image", "heroimage", "hero", "featuredimage", "cover", "coverimage", "thumbnail",
        "ogimage", "featureimage", "images", "banner",
    ),
    "image_alt": (
        "imagealt", "heroalt", "featuredimagealt", "coveralt", "coverimagealt",
        "thumbnailalt", "featureimagealt", "alt",
    ),
    "date": (
        "date", "publishdate", "published", "pubdate", "publishedat", "datepublished",
        "publishedon", "created",
    ),
    "author": ("author", "authors", "primaryauthor", "writer", "byline"),
    "tags": ("tags", "categories", "keywords", "category", "topics"),
    "canonical": (
        "canonicalurl", "canonical", "permalink", "url", "originalurl",
    ),
    "cta": ("cta", "calltoaction"),
    "sources": ("sources", "references", "citations"),
    "draft": ("draft", "status", "published"),
}  # fmt: skip
# Keys that hold nothing for an email (layout, slug, SEO switches…) still count as unknown:
# the warning lists them so that a typo in a real field shows. Nested tables of
# generator-specific parameters are read as if their keys were at the top level.
_NESTED = ("params", "extra")
_IMAGE_KEYS = ("src", "url", "path", "image", "href", "file", "source")
_ALT_KEYS = ("alt", "alttext", "alt_text", "caption", "title", "description")
_NAME_KEYS = ("name", "title", "text", "displayname")


def normalise(key: str) -> str:
    return re.sub(r"[-_\s]", "", key).casefold()


_KNOWN = {key for keys in ALIASES.values() for key in keys}


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The article's fields as the front matter states them (raw URLs: resolved later)."""

    title: str = ""
    summary: str = ""
    image: str = ""
    image_alt: str = ""
    date: dt.date | None = None
    author: str = ""
    tags: tuple[str, ...] = ()
    canonical: str = ""
    cta: Any = None
    has_cta: bool = False
    sources: Any = None
    has_sources: bool = False
    draft: bool = False
    warnings: tuple[str, ...] = ()


def read_fields(raw: dict[str, Any]) -> FrontMatter:
    flat: dict[str, tuple[str, Any]] = {}  # normalised key → (key as written, value)
    for key, value in raw.items():
        flat.setdefault(normalise(key), (key, value))
    for nested in _NESTED:
        inner = flat.get(nested, (None, None))[1]
        if isinstance(inner, dict):
            for key, value in inner.items():
                flat.setdefault(normalise(str(key)), (f"{nested}.{key}", value))
    warnings: list[str] = []
    unknown = [written for key, (written, _) in flat.items() if key not in _KNOWN | set(_NESTED)]

    def first(field: str, convert: Callable[[Any], Any]) -> Any:
        for alias in ALIASES[field]:
            if alias in flat:
                value = convert(flat[alias][1])
                if value not in (None, "", ()):
                    return value
        return None

    image_value = first("image", _image)
    image, object_alt = image_value if image_value else ("", "")
    date = first("date", parse_date)
    for alias in ALIASES["date"]:
        value = flat[alias][1] if alias in flat else None
        if isinstance(value, str | int) and not isinstance(value, bool) and date is None:
            warnings.append(
                f"front matter `{flat[alias][0]}` {str(flat[alias][1])[:40]!r} is not a date; "
                "ignored (write it as YYYY-MM-DD)"
            )
            break
    cta_key = next((a for a in ALIASES["cta"] if a in flat), None)
    sources_key = next((a for a in ALIASES["sources"] if a in flat), None)
    draft = _is_draft(flat)
    if draft:
        warnings.append(
            "the front matter says this post is a draft: it may not be published on the "
            "website yet, so links to it may not work"
        )
    if unknown:
        warnings.append(
            "front matter field(s) ignored (not used in emails): " + ", ".join(sorted(unknown))
        )
    return FrontMatter(
        title=first("title", _text) or "",
        summary=first("summary", _text) or "",
        image=image,
        image_alt=first("image_alt", _text) or object_alt,
        date=date,
        author=first("author", _names) or "",
        tags=first("tags", _words) or (),
        canonical=first("canonical", _url) or "",
        cta=flat[cta_key][1] if cta_key else None,
        has_cta=cta_key is not None,
        sources=flat[sources_key][1] if sources_key else None,
        has_sources=sources_key is not None,
        draft=draft,
        warnings=tuple(warnings),
    )


def _text(value: Any) -> str | None:
    """Text from a scalar, the first text of a list, or an object's text/name."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return " ".join(str(value).split())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return next((text for item in value[:20] if (text := _text(item))), None)
    if isinstance(value, dict):
        return next(
            (text for key in _NAME_KEYS if (text := _text(_get(value, key)))),
            None,
        )
    return None


def _image(value: Any) -> tuple[str, str] | None:
    """(source, alt) from a URL, a list of them, or an object like {src, alt} / {path}."""
    if isinstance(value, str):
        return (value.strip(), "") if value.strip() else None
    if isinstance(value, list):
        return next((found for item in value[:20] if (found := _image(item))), None)
    if isinstance(value, dict):
        source = next((_image(_get(value, key)) for key in _IMAGE_KEYS if _get(value, key)), None)
        if not source:
            return None
        alt = next((text for key in _ALT_KEYS if (text := _text(_get(value, key)))), "")
        return source[0], alt
    return None


def _names(value: Any) -> str | None:
    """One or several authors: `Dana`, `[Dana, Lee]`, `{name: Dana}`, `[{name: Dana}]`."""
    if isinstance(value, list):
        names = [name for item in value[:10] if (name := _text(item))]
        return ", ".join(dict.fromkeys(names)) or None
    return _text(value)


def _words(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        text = _text(value)
        return (text,) if text else None
    words = (text.strip() for item in value[:50] if (text := _text(item)))
    return tuple(dict.fromkeys(word for word in words if word)) or None


def _url(value: Any) -> str | None:
    text = _text(value)
    if not text or "{{" in text or "{%" in text or re.search(r"(^|/):\w", text):
        return None  # a template (`/blog/{{ page.fileSlug }}/`, `/:year/:title/`), not a URL
    return text.replace(" ", "")


def _get(mapping: dict[Any, Any], key: str) -> Any:
    for written, value in mapping.items():
        if normalise(str(written)) == normalise(key):
            return value
    return None


def _is_draft(flat: dict[str, tuple[str, Any]]) -> bool:
    if "draft" in flat:
        value = flat["draft"][1]
        return value is True or (
            isinstance(value, str) and value.strip().lower() in ("true", "yes")
        )
    if "status" in flat and isinstance(flat["status"][1], str):
        return flat["status"][1].strip().lower() in ("draft", "scheduled", "private")
    return "published" in flat and flat["published"][1] is False


def call_to_action(value: Any, base: str | None) -> CallToAction | None:
    """`cta: "Book today."` or `cta: {text, url, label}`; anything else means none."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = " ".join(str(value).split())
        return CallToAction(text=text) if text else None
    if isinstance(value, dict):
        text = _text(_get(value, "text")) or ""
        url = _text(_get(value, "url")) or _text(_get(value, "href"))
        label = _text(_get(value, "label")) or "Book a consultation"
        target = safe_url(url, base) if url else None
        if text or target:
            return CallToAction(text=text, url=target, label=label)
    return None


def sources_field(value: Any, base: str | None) -> tuple[Source, ...]:
    """`sources:` as a list (or one) of `text, https://…` strings or `{text, url}` objects."""
    items = value if isinstance(value, list) else [value]
    found: list[Source] = []
    for item in items[:200]:
        if isinstance(item, dict):
            url = _text(_get(item, "url")) or _text(_get(item, "href")) or ""
            text = _text(_get(item, "text")) or _text(_get(item, "title")) or url
            found.append(Source(text=text, url=safe_url(url, base) if url else None))
        elif (plain := _text(item)) is not None:
            found.append(parse_source(plain))
    return tuple(s for s in found if s.text)
