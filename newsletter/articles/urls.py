"""Where an article's relative addresses point, and which images an email can show.

The base for relative URLs is the first of: `--base-url`, the document's own absolute
address (canonical link / og:url, or a front matter canonical / url), the clinic's website
(`NEWSLETTER_WEBSITE_URL`) — a relative permalink is joined to the website first. Links
become absolute http(s)/mailto or are dropped; an image must end up absolute https
(an `http://` one is kept with a warning, some clients block mixed content), otherwise it
is dropped with a warning naming it: never a broken image in an inbox.
"""

from __future__ import annotations

import re

from newsletter.articles.inference import safe_url
from newsletter.articles.sanitize import is_tracker_url

_SHOWN = 80
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*:|//)", re.I)


def absolute(url: str | None) -> str | None:
    """`url` if it is (or, protocol-relative, becomes) an absolute http(s) URL."""
    resolved = safe_url(url)
    return resolved if resolved and resolved.startswith(("http://", "https://")) else None


def choose_base(base_url: str | None, own: list[str | None], site_url: str | None) -> str | None:
    """`--base-url`, else the document's own absolute URL, else a relative one of its own
    joined to the website, else the website."""
    if absolute(base_url):
        return absolute(base_url)
    for url in own:
        if absolute(url):
            return absolute(url)
    site = absolute(site_url)
    for url in own:
        if site and url and url.strip() and not _SCHEME.match(url.strip()):
            joined = safe_url("/" + url.strip().lstrip("/"), site.rstrip("/") + "/")
            if joined and joined.startswith(("http://", "https://")):
                return joined
    return site


def shown(url: str) -> str:
    url = " ".join(url.split())
    return url if len(url) <= _SHOWN else url[: _SHOWN - 1] + "…"


class Urls:
    """Resolves one document's link and image addresses; remembers what it had to warn."""

    def __init__(self, base: str | None):
        self.base = base
        self.relative_links = False
        self._warnings: dict[str, None] = {}

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    def warn(self, message: str) -> None:
        self._warnings.setdefault(message, None)

    def link(self, href: str | None) -> str | None:
        if not href or not href.strip():
            return None
        url = safe_url(href, self.base)
        if url is None:
            if href.strip().startswith("//"):
                self.warn(f"link {shown(href)!r} dropped: it has no host")
            return None
        if is_tracker_url(url):
            return None
        if not url.startswith(("http://", "https://", "mailto:")):
            self.relative_links = True
        return url

    def image(self, src: str | None) -> str | None:
        if not src or not src.strip():
            return None
        src = src.strip()
        if src.lower().startswith("data:"):
            self.warn(
                f"image {shown(src)!r} dropped: images embedded in the page (data: URLs) do "
                "not show in most email clients; use the hosted image"
            )
            return None
        url = safe_url(src, self.base)
        if url is None or url.startswith("mailto:"):
            self.warn(f"image {shown(src)!r} dropped: not a web address an email can load")
            return None
        if is_tracker_url(url):
            return None
        if not url.startswith(("http://", "https://")):
            self.warn(
                f"image {shown(src)!r} dropped: its address is relative and the page's own "
                "address is unknown; pass --base-url with the page's address"
            )
            return None
        if url.startswith("http://"):
            https = "https://" + url.removeprefix("http://")
            self.warn(
                f"image {shown(url)} is not https: some email clients block it (try {shown(https)})"
            )
        return url
