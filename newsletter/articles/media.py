"""Images and videos as pages really carry them, rewritten into plain `<img src>`.

Lazy loading hides the real picture in `data-src`, `srcset`, a `<picture>`'s sources or a
`<noscript>` fallback behind a placeholder; an embedded video is an iframe an email cannot
play. Run on a parsed page (or fragment) before extraction: each image gets its real
source, each video becomes its thumbnail (linked to the video, through `Media.links`),
and figure captions are remembered (`Media.captions`) because extractors drop them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

_LAZY_ATTRIBUTES = (
    "data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-hi-res-src",
    "data-orig-file", "data-full-url", "data-large-file", "data-image", "data-img-src",
    "data-pin-media", "data-echo", "data-ll-src",
)  # fmt: skip
_LAZY_SRCSETS = ("data-srcset", "data-lazy-srcset", "srcset")
_PLACEHOLDER = re.compile(
    r"^data:|(^|[/_.-])(blank|spacer|pixel|placeholder|transparent|lazy|loading|grey|gray|"
    r"empty|1x1)([/_.-]|$)",
    re.I,
)
_YOUTUBE = re.compile(
    r"(?:youtube(?:-nocookie)?\.com/(?:embed/|v/|shorts/|live/|watch\?(?:.*&)?v=)|youtu\.be/)"
    r"([A-Za-z0-9_-]{11})"
)
_VIMEO = re.compile(r"vimeo\.com/(?:video/|channels/\w+/)?(\d{5,12})")
_EMAIL_FRIENDLY = ("image/jpeg", "image/jpg", "image/png", "image/gif")
_CAPTION_CLASSES = {"wp-caption-text", "caption", "image-caption", "figure-caption"}
_CAPTION_TAGS = {"p", "div", "span", "dd"}


# An image no email can show (embedded as a data: URL, or on ftp:, file:…) is swapped for
# this address, which the extractor and sanitiser keep like any image, so that dropping it
# can be reported with its name.
STAND_IN = "https://unusable-image.invalid/"
_WEB = re.compile(r"^(https?:)?//|^[^:/?#]*([/?#]|$)", re.I)


@dataclass
class Media:
    """What the rewrite learnt: image source → caption, image source → link target,
    and the images no email can show by their stand-in address."""

    captions: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    stand_ins: dict[str, str] = field(default_factory=dict)

    def update(self, other: Media) -> None:
        self.captions.update(other.captions)
        self.links.update(other.links)
        self.stand_ins.update(other.stand_ins)


def video_link(url: str | None) -> tuple[str, str | None] | None:
    """(watch URL, thumbnail URL or None) for a YouTube or Vimeo address."""
    if not url:
        return None
    found = _YOUTUBE.search(url)
    if found:
        video = found.group(1)
        return f"https://www.youtube.com/watch?v={video}", (
            f"https://i.ytimg.com/vi/{video}/hqdefault.jpg"
        )
    found = _VIMEO.search(url)
    if found:
        return f"https://vimeo.com/{found.group(1)}", None
    return None


def prepare_media(root: etree._Element) -> Media:
    """Rewrite lazy images, pictures, noscript fallbacks and videos in place."""
    media = Media()
    for noscript in list(root.iter("noscript")):
        _noscript(noscript)
    for picture in list(root.iter("picture")):
        _picture(picture)
    for img in root.iter("img"):
        real = real_source(img)
        if real and real != img.get("src"):
            img.set("src", real)
        if real and not _WEB.match(real.strip()):
            stand_in = f"{STAND_IN}{len(media.stand_ins) + 1}.png"
            media.stand_ins[stand_in] = real.strip()[:200]
            img.set("src", stand_in)
    for element in list(root.iter("iframe", "embed", "video", "lite-youtube", "lite-vimeo")):
        _video(element, media)
    return media


def collect_captions(root: etree._Element, media: Media) -> None:
    """Remember each figure's caption by its image's (final) source; the caption element
    leaves the tree so its text is not read twice."""
    for caption in root.xpath("//figcaption|//*[contains(@class, 'caption')]"):
        if caption.tag != "figcaption":
            classes = (caption.get("class") or "").split()
            if caption.tag not in _CAPTION_TAGS or not set(classes) & _CAPTION_CLASSES:
                continue
        container = caption.getparent()
        if container is None:
            continue
        img = next(container.iter("img"), None)
        text = " ".join(caption.text_content().split())
        if img is None or not img.get("src") or not text or len(text) > 400:
            continue
        media.captions.setdefault(img.get("src", ""), text)
        remove_keep_tail(caption)


def real_source(img: etree._Element) -> str | None:
    """The picture a browser would end up showing."""
    src = (img.get("src") or "").strip()
    if src and not _PLACEHOLDER.search(src):
        return src
    for name in _LAZY_ATTRIBUTES:
        value = (img.get(name) or "").strip()
        if value and not _PLACEHOLDER.search(value):
            return value
    for name in _LAZY_SRCSETS:
        best = best_from_srcset(img.get(name))
        if best:
            return best
    return src or None


def best_from_srcset(srcset: str | None, width: int = 1200) -> str | None:
    """The candidate nearest `width` pixels from above (else the widest), for a 600 px
    email on a 2× screen."""
    if not srcset:
        return None
    candidates: list[tuple[float, str]] = []
    for part in re.split(r",\s+(?=\S)", srcset.strip()):
        pieces = part.strip().split()
        if not pieces or _PLACEHOLDER.search(pieces[0]):
            continue
        descriptor = pieces[1] if len(pieces) > 1 else "1x"
        try:
            size = float(descriptor[:-1]) * (600 if descriptor.endswith("x") else 1)
        except ValueError:
            size = 600
        candidates.append((size, pieces[0]))
    if not candidates:
        return None
    above = [c for c in candidates if c[0] >= width]
    return min(above)[1] if above else max(candidates)[1]


def _noscript(noscript: etree._Element) -> None:
    """A `<noscript><img></noscript>` fallback: it replaces the placeholder beside it, or
    stands for the image itself when there is none."""
    img = next(noscript.iter("img"), None)
    if img is None or not img.get("src"):
        return
    placeholder = None
    for candidate in (noscript.getprevious(), noscript.getnext()):
        if candidate is not None and candidate.tag == "img":
            placeholder = candidate
        elif candidate is not None and isinstance(candidate.tag, str):
            placeholder = next(candidate.iter("img"), None) if len(candidate) < 4 else None
        if placeholder is not None:
            break
    if placeholder is not None:
        if not real_source(placeholder) or _PLACEHOLDER.search(placeholder.get("src") or ""):
            placeholder.set("src", img.get("src", ""))
            if img.get("alt") and not placeholder.get("alt"):
                placeholder.set("alt", img.get("alt", ""))
        remove_keep_tail(noscript)
        return
    _replace(noscript, img)


def _picture(picture: etree._Element) -> None:
    img = next(picture.iter("img"), None)
    sources = [s for s in picture.iter("source") if s.get("srcset") or s.get("data-srcset")]
    friendly = [s for s in sources if (s.get("type") or "").lower() in _EMAIL_FRIENDLY]
    untyped = [s for s in sources if not s.get("type")]
    chosen = (friendly or untyped or sources or [None])[0]
    best = (
        best_from_srcset(chosen.get("srcset") or chosen.get("data-srcset"))
        if chosen is not None
        else None
    )
    if img is None:
        if not best:
            return
        img = etree.Element("img")
    if (best and (not real_source(img) or _PLACEHOLDER.search(img.get("src") or ""))) or (
        best and not img.get("src")
    ):
        img.set("src", best)
    _replace(picture, img)


def _video(element: etree._Element, media: Media) -> None:
    tag = element.tag
    source = element.get("src") or element.get("data-src") or ""
    if tag == "lite-youtube":
        source = f"https://www.youtube.com/embed/{element.get('videoid', '')}"
    elif tag == "lite-vimeo":
        source = f"https://vimeo.com/{element.get('videoid', '')}"
    elif tag == "video":
        inner = next((s.get("src") for s in element.iter("source") if s.get("src")), "")
        source = source or inner or ""
    title = " ".join((element.get("title") or element.get("aria-label") or "").split())
    found = video_link(source)
    replacement = etree.Element("span")
    if found:
        watch, thumbnail = found
        if thumbnail:
            alt = f"Video: {title or 'watch on YouTube'}"
            etree.SubElement(replacement, "img", src=thumbnail, alt=alt)
            media.links[thumbnail] = watch
        else:
            named = f" “{title}”" if title else ""
            replacement.text = f"Watch the video{named} on Vimeo: "
            link = etree.SubElement(replacement, "a", href=watch)
            link.text = watch.removeprefix("https://")
    elif tag == "video" and element.get("poster"):
        img = etree.SubElement(replacement, "img", src=element.get("poster", ""))
        img.set("alt", f"Video: {title}" if title else "Video")
        if source.startswith(("http://", "https://", "/")):
            media.links[element.get("poster", "")] = source
    else:
        return
    _replace(element, replacement)


def _replace(old: etree._Element, new: etree._Element) -> None:
    """Put `new` where `old` was, with the text that followed `old`."""
    new.tail = old.tail
    parent = old.getparent()
    if parent is not None:
        parent.replace(old, new)


def remove_keep_tail(element: etree._Element) -> None:
    """Remove an element, keeping the text that follows it."""
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


_REMOVED = "newsletter-removed"


def remove_all(elements: list[etree._Element]) -> None:
    """Remove many elements (keeping the text after each) in one linear pass: removing
    them one by one costs a search of the siblings each, quadratic on hostile pages."""
    roots = {}
    for element in elements:
        if element.getparent() is not None:
            element.tag = _REMOVED
            root = element.getroottree().getroot()
            roots[id(root)] = root
    for root in roots.values():
        etree.strip_elements(root, _REMOVED, with_tail=False)
