"""Email-safe HTML: what may survive from an imported page before it becomes an Article.

Two passes. `drop_trackers` runs on the whole page before extraction, because the
extractor throws away the width/height that identify 1×1 pixels. `clean_fragment` runs
nh3 on the extractor's output with a small email allowlist, so the tree we walk can only
hold the elements the Article can represent.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import nh3
from lxml import etree, html

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
# Characters XML 1.0 forbids, plus C1 controls and bidi/zero-width tricks nobody types.
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u200b\u2028\u2029\ufeff]"
)
# Block elements the allowlist lacks, mapped to the nearest allowed one so that their
# text keeps its own paragraph instead of running into its neighbours.
_RENAME = {"h5": "h4", "h6": "h4", "pre": "p", "dt": "p", "dd": "p", "figcaption": "p"}
_CELL_SEPARATOR = " · "


def xml_clean(text: str) -> str:
    """Text safe to put in any XML/HTML template (after the template escapes it)."""
    return _NOT_XML.sub("", text)


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
    try:
        root = html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        root = None
    if root is not None:
        _normalise_blocks(root)
        fragment = html.tostring(root, encoding="unicode")
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel=None,
    )


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
