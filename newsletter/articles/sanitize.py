"""Email-safe HTML: what may survive from an imported page, and how it becomes blocks.

`drop_trackers` runs on the whole page before extraction, because the extractor throws
away the width/height that identify 1×1 pixels. `clean_fragment` runs nh3 on the
extractor's output with a small email allowlist, and `BlockReader` walks only that
allowlisted tree, so nothing but plain text and safe URLs reaches the Article.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import nh3
from lxml import etree, html

from newsletter.articles.inference import xml_clean
from newsletter.articles.media import Media, collect_captions, prepare_media, remove_keep_tail
from newsletter.articles.notes import rewrite_footnotes

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
    "no-cache.hubspot.com/cta",  # HubSpot call-to-action buttons drawn as images
    "cta-redirect.hubspot.com",
)
_DIMENSION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px)?\s*$", re.I)
_STYLE_DIMENSION = re.compile(r"(?:^|;)\s*(width|height)\s*:\s*(\d+(?:\.\d+)?)\s*px", re.I)
# Block elements the allowlist lacks, mapped to the nearest allowed one so that their
# text keeps its own paragraph instead of running into its neighbours.
_RENAME = {"h5": "h4", "h6": "h4", "pre": "p", "dt": "p", "dd": "p", "figcaption": "p"}
# A table becomes one paragraph per row ("cell · cell"), the header row bold: emails show
# tables badly and a <p> left inside a <table> would be moved out of it by the HTML parser.
_TABLE_PARTS = {"table": "div", "thead": "div", "tbody": "div", "tfoot": "div", "td": "span",
                "th": "strong", "caption": "p"}  # fmt: skip
_CELL_SEPARATOR = " · "
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
_SPACE = re.compile(r"\s+")


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
        if is_pixel(img) or is_tracker_url(src):
            remove_keep_tail(img)


def parse_fragment(markup: str) -> html.HtmlElement | None:
    """Markup as the children of one `<div>`; None when lxml cannot read it (markup that
    opens a document of its own, like `<html>`, trips lxml's fragment parser)."""
    try:
        return html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError, AssertionError):
        return None


def clean_fragment(fragment: str, media: Media | None = None) -> str:
    """HTML reduced to the email allowlist (links: http/https/mailto); lazy images, videos
    and captions are rewritten first (`media`), recording what they teach into `media`."""
    fragment = xml_clean(fragment)  # "&#65535;" decodes to a character lxml refuses
    root = parse_fragment(fragment)
    if root is not None:
        found = prepare_media(root)
        collect_captions(root, found)
        if media is not None:
            media.update(found)
        rewrite_footnotes(root)
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
            for cell in cells:
                cell.tag = _TABLE_PARTS[cell.tag]
        elif element.tag in _TABLE_PARTS and element.tag not in ("td", "th"):
            element.tag = _TABLE_PARTS[element.tag]
    for img in list(root.iter("img")):
        if is_tracker_url(img.get("src")):
            remove_keep_tail(img)


def clean_text(value: str) -> str:
    """One line of XML-clean text, whitespace collapsed as a browser would."""
    return _SPACE.sub(" ", xml_clean(value)).strip()


_HEADING_ANCHOR = re.compile(r"(\s*(¶|#|🔗|§|\[(edit|bearbeiten|modifier|editar)\]))+$", re.I)


def clean_heading(value: str) -> str:
    """A heading's text without the permalink mark docs and wikis append ("Install¶",
    "History[edit]")."""
    return _HEADING_ANCHOR.sub("", clean_text(value)).strip()
