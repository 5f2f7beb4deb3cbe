"""`GET`/`HEAD /r/{link_key}/{token}`: the first-party click redirect, and `/o/{token}`: the
open pixel (only with `NEWSLETTER_OPEN_TRACKING=true`).

The destination is the one stored for that link key in the token's campaign
(`campaign_links`), never anything taken from the request: the incoming query string is
ignored and never forwarded, and a tampered, truncated or foreign token, an unknown link
key, or a link key of another campaign gets the branded 404 page. The answer is a 302 with
`Cache-Control: no-store` and `Referrer-Policy: no-referrer`, whose `Location` is the stored
URL (campaign-constant UTM values only: no token, address or id, PD-4, P-06). A GET is
handed to the click recorder (a queue put) and the redirect answers at once; a HEAD is
answered the same and never counted. Test-send tokens redirect and count apart; preview
tokens open a page saying so (`newsletter.engagement.link_tokens`).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.engagement.bots import PREFETCH_HEADER_NAMES, prefetch_header
from newsletter.engagement.directory import LinkDirectory
from newsletter.engagement.link_tokens import resolve
from newsletter.engagement.recorder import Seen
from newsletter.web.link_pages import preview_page
from newsletter.web.public import SECURITY_HEADERS, not_found, now_of

router = APIRouter()

LINK_KEY = re.compile(r"L[0-9]{1,4}")
_REDIRECT_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
# A transparent 1×1 GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def _request_signals(request: Request) -> tuple[str | None, bool]:
    """The user agent, and whether the request says it is a prefetch: one pass over the raw
    headers (the click path's hottest few microseconds)."""
    user_agent, hints = None, {}
    for name, value in request.scope["headers"]:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name in PREFETCH_HEADER_NAMES:
            hints[name.decode("latin-1")] = value.decode("latin-1")
    return user_agent, bool(hints) and prefetch_header(hints)


async def _campaign_of(directory: LinkDirectory, delivery_id: int) -> int | None:
    cached = directory.cached_campaign(delivery_id)
    if cached is not None:
        return cached
    if directory.inline:  # SQLite: a primary-key read is quicker than a thread hop
        return directory.campaign_of(delivery_id)
    return await run_in_threadpool(directory.campaign_of, delivery_id)


async def click(request: Request) -> Response:
    """`/r/{link_key}/{token}` (a plain Starlette route: no validation machinery on the
    hottest path; both parameters are checked here)."""
    link_key, token = request.path_params["link_key"], request.path_params["token"]
    state = request.app.state
    settings: Settings = state.settings
    target = (
        resolve("click", token, settings.signing_keys) if LINK_KEY.fullmatch(link_key) else None
    )
    if target is None:
        return not_found(settings)
    if target.kind == "preview":
        return preview_page(settings, "click")
    directory: LinkDirectory = state.links
    campaign_id = target.id
    if target.kind == "delivery" and target.id is not None:
        campaign_id = await _campaign_of(directory, target.id)
    if campaign_id is None:
        return not_found(settings)
    links = directory.cached_links(campaign_id)
    if links is None:
        links = await run_in_threadpool(directory.links, campaign_id)
    link = links.get(link_key)
    if link is None or link.location is None:
        return not_found(settings)
    if request.method == "GET":
        user_agent, prefetch = _request_signals(request)
        state.clicks.add(
            Seen(
                at=now_of(request.app),
                campaign_id=campaign_id,
                delivery_id=target.id if target.kind == "delivery" else None,
                link_key=link_key,
                link_kind=link.kind,
                user_agent=user_agent,
                prefetch=prefetch,
                client_ip=request.client.host if request.client else None,
            )
        )
    return Response(status_code=302, headers={"Location": link.location, **_REDIRECT_HEADERS})


async def open_pixel(request: Request) -> Response:
    """`/o/{token}`: the open pixel, only with NEWSLETTER_OPEN_TRACKING=true."""
    token = request.path_params["token"]
    state = request.app.state
    settings: Settings = state.settings
    if not settings.open_tracking:
        return not_found(settings)
    target = resolve("click", token, settings.signing_keys)
    if target is None:
        return not_found(settings)
    if target.kind == "delivery" and target.id is not None and request.method == "GET":
        campaign_id = await _campaign_of(state.links, target.id)
        if campaign_id is not None:
            user_agent, prefetch = _request_signals(request)
            state.clicks.add(
                Seen(
                    at=now_of(request.app),
                    campaign_id=campaign_id,
                    delivery_id=target.id,
                    link_key=None,
                    link_kind=None,
                    user_agent=user_agent,
                    prefetch=prefetch,
                    client_ip=request.client.host if request.client else None,
                )
            )
    return Response(
        PIXEL,
        media_type="image/gif",
        headers={**SECURITY_HEADERS, "Content-Length": str(len(PIXEL))},
    )


router.add_route("/r/{link_key}/{token}", click, methods=["GET", "HEAD"])
router.add_route("/o/{token}", open_pixel, methods=["GET", "HEAD"])
