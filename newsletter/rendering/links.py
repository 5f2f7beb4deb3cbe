"""Links in an email: campaign keys, UTM parameters, link kinds, link keys, the click redirect.

Pure functions. A campaign's links get fixed link keys (L1, L2, …) in reading order, stored
in the `campaign_links` table when the campaign is created; each link's destination carries
campaign-constant UTM values only (never anything about a recipient), and, with click
tracking on, the href becomes `{public_url}/r/{link_key}/{recipient token}` so a digest with
many links still needs a single per-recipient value. With click tracking on, the HTML part
also carries one hidden honeypot link (link key `L0`, kind `honeypot`): no person sees or
follows it, so a hit marks that email's clicks around it as a machine's (docs/tracking.md).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsletter.errors import ValidationError
from newsletter.rendering.placeholders import RECIPIENT_TOKEN

LinkKind = Literal["consultation", "article", "unsubscribe", "other", "honeypot"]
HONEYPOT_KEY = "L0"
CAMPAIGN_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def default_campaign_key(today: dt.date) -> str:
    """Neutral and date-based: never built from the article's words, which may be clinical."""
    return f"newsletter-{today:%Y-%m}"


def check_campaign_key(key: str) -> str:
    if not CAMPAIGN_KEY.match(key):
        raise ValidationError(
            f"campaign key {key!r} is not allowed",
            where="--campaign",
            fix="use 2–40 lowercase letters, digits and dashes, neutral words only "
            "(e.g. newsletter-2026-12); it appears in every link's utm_campaign",
        )
    return key


def with_utm(url: str, *, campaign: str, content: str) -> str:
    """Add utm_source/medium/campaign/content unless the link already sets them."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    for key, value in (
        ("utm_source", "newsletter"),
        ("utm_medium", "email"),
        ("utm_campaign", campaign),
        ("utm_content", content),
    ):
        if key not in present:
            query.append((key, value))
    return urlunsplit(parts._replace(path=parts.path or "/", query=urlencode(query)))


def redirect_href(public_url: str, link_key: str, recipient_token: str = RECIPIENT_TOKEN) -> str:
    """The product's own click redirect for one link and one recipient."""
    return f"{public_url.rstrip('/')}/r/{link_key}/{recipient_token}"


def honeypot_html(href: str) -> str:
    """A link no person sees, reaches by keyboard or hears read out (HTML part only)."""
    return (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;font-size:0;'
        f'line-height:0" aria-hidden="true"><a href="{href}" tabindex="-1" '
        'style="display:none;color:transparent">&#8203;</a></div>'
    )


def open_pixel_html(public_url: str, recipient_token: str = RECIPIENT_TOKEN) -> str:
    """The 1×1 open-tracking image (NEWSLETTER_OPEN_TRACKING only): decorative, no alt text."""
    return (
        f'<img src="{public_url.rstrip("/")}/o/{recipient_token}" width="1" height="1" alt="" '
        'aria-hidden="true" style="display:block;width:1px;height:1px;border:0;">'
    )


def with_honeypot(html: str, href: str) -> str:
    """`html` with the honeypot link just before `</body>` (or at the end)."""
    return before_body_end(html, honeypot_html(href))


def before_body_end(html: str, snippet: str) -> str:
    at = html.rfind("</body>")
    return html + snippet if at < 0 else html[:at] + snippet + html[at:]


@dataclass(frozen=True, slots=True)
class Link:
    id: str  # the link key: L1, L2, … in reading order (L0: the honeypot)
    url: str  # the destination, with UTM
    kind: LinkKind
    label: str | None = None  # the link's text, for reports


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """What the clinic's URLs are, to classify links."""

    booking_url: str
    website_url: str
    public_url: str
    canonical_url: str | None = None

    def kind(self, url: str) -> LinkKind:
        target = urlsplit(url)
        host = (target.hostname or "").lower()
        if url.startswith(self.public_url.rstrip("/") + "/u/"):
            return "unsubscribe"
        booking = urlsplit(self.booking_url)
        booking_host = (booking.hostname or "").lower()
        website_host = (urlsplit(self.website_url).hostname or "").lower()
        if host == booking_host:
            if booking_host != website_host:  # a dedicated booking domain
                return "consultation"
            if target.path.rstrip("/").startswith(booking.path.rstrip("/") or "/\0"):
                return "consultation"
        if self.canonical_url and _same_page(url, self.canonical_url):
            return "article"
        if host and host == website_host:
            return "article"
        return "other"


def _same_page(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.path.rstrip("/")) == (pb.hostname, pb.path.rstrip("/"))


@dataclass
class LinkTable:
    """Registers a campaign's links in order and gives each its href in the email."""

    policy: LinkPolicy
    campaign_key: str
    click_tracking: bool = False
    links: list[Link] = field(default_factory=list)
    _by_url: dict[tuple[str, str], Link] = field(default_factory=dict)

    def add(self, url: str, kind: LinkKind | None = None, label: str | None = None) -> Link:
        kind = kind or self.policy.kind(url)
        existing = self._by_url.get((url, kind))
        if existing:
            return existing
        link_key = f"L{len(self.links) + 1}"
        destination = (
            url
            if kind == "unsubscribe"
            else with_utm(url, campaign=self.campaign_key, content=link_key)
        )
        label = " ".join((label or "").split())[:200] or None
        link = Link(id=link_key, url=destination, kind=kind, label=label)
        self.links.append(link)
        self._by_url[(url, kind)] = link
        return link

    def href(self, url: str, kind: LinkKind | None = None, label: str | None = None) -> str:
        """The href to print in the email for `url`."""
        if not url.startswith(("http://", "https://")):
            return url  # mailto: and relative links (flagged by `check`) are left alone
        link = self.add(url, kind, label)
        if self.click_tracking and link.kind != "unsubscribe":
            return redirect_href(self.policy.public_url, link.id)
        return link.url

    def honeypot(self) -> Link | None:
        """The hidden honeypot link (click tracking only): to the clinic's website."""
        if not self.click_tracking:
            return None
        return Link(
            id=HONEYPOT_KEY,
            url=with_utm(self.policy.website_url, campaign=self.campaign_key, content=HONEYPOT_KEY),
            kind="honeypot",
        )
