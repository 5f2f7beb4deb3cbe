"""The pages a link shows when it does not lead on: a preview's links, a test send's
unsubscribe and preference links. Shared by the web app and the preview server, so both
answer the links of a rendered email the same way (docs/tracking.md)."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from newsletter.config import Settings
from newsletter.web.public import page

_WHAT = {
    "click": "This link",
    "open": "This image",
    "unsubscribe": "This unsubscribe link",
    "preferences": "This preferences link",
}


def preview_page(settings: Settings, what: str, destination: str | None = None) -> HTMLResponse:
    """A preview's link: it never redirects, and never touches anyone's subscription."""
    where = ""
    if destination:
        where = (
            f'<p>In a sent email it leads to <a href="{escape(destination)}" '
            f'rel="noreferrer">{escape(destination)}</a>.</p>'
        )
    return page(
        settings,
        "This is a preview",
        f"{_WHAT.get(what, 'This link')} comes from a preview of an email, not from an "
        "email anyone was sent, so it does not lead anywhere and changes nothing.",
        form=where,
    )


def test_page(settings: Settings, what: str) -> HTMLResponse:
    """A test send's unsubscribe or preference link: nobody is unsubscribed or changed."""
    return page(
        settings,
        "This was a test email",
        f"{_WHAT.get(what, 'This link')} comes from a test send of a campaign. Nothing "
        "was changed: in the emails subscribers receive, it works for them.",
    )
