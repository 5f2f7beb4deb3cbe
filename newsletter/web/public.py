"""Public pages reached from emails: unsubscribe (`/u/{token}`) and opt-in confirmation
(`/confirm/{token}`).

Both follow "GET shows, POST acts": link scanners and prefetchers issue GETs, so a GET (or
HEAD) never changes anything. `POST /u/{token}` is RFC 8058 one-click: no login, no cookie,
no CSRF token (the signed URL token alone authorises it), urlencoded or multipart
`List-Unsubscribe=One-Click` or an empty browser form post; idempotent; 200 with no Location.
Unknown, tampered or random tokens get one generic 404 page. Every page is `no-store`,
`no-referrer` and loads nothing from anywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.domain.subscribers import HashKey, SuppressionReason
from newsletter.engagement.event_effects import suppress_once
from newsletter.engagement.link_tokens import LinkToken, resolve
from newsletter.services.double_opt_in import confirm_subscription
from newsletter.storage.counter_store import add_counts
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import deliveries
from newsletter.storage.tables import subscribers

router = APIRouter()

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_CONFIRM_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,512}$")
_MAX_FORM_BYTES = 64 * 1024

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>{title} · {clinic}</title>
<style>
body {{ font-family: system-ui, -apple-system, sans-serif; background: {bg}; color: {fg};
       margin: 0; padding: 48px 16px; }}
main {{ max-width: 480px; margin: 0 auto; background: #fff; border-radius: 8px;
       padding: 32px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
h1 {{ font-size: 22px; margin: 0 0 12px; color: {brand}; }} p {{ line-height: 1.5; }}
button {{ font: inherit; font-weight: 600; color: #fff; background: {accent}; border: 0;
         border-radius: 6px; padding: 12px 20px; cursor: pointer; }}
.clinic {{ font-size: 13px; color: #52606d; margin-top: 24px; }}
</style></head><body><main><h1>{title}</h1>{body}
<p class="clinic">{clinic}</p></main></body></html>"""


def page(
    settings: Settings,
    title: str,
    text: str,
    *,
    form: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A small self-contained HTML page (title and text are escaped; `form` is trusted)."""
    html = _PAGE.format(
        title=escape(title), clinic=escape(settings.clinic_name), bg=settings.background_color,
        fg=settings.text_color, brand=settings.brand_color, accent=settings.accent_color,
        body=f"<p>{escape(text)}</p>{form}",
    )  # fmt: skip
    return HTMLResponse(html, status_code=status_code,
                        headers={**SECURITY_HEADERS, **(headers or {})})  # fmt: skip


def not_found(settings: Settings) -> HTMLResponse:
    return page(settings, "Link not found",
                "This link is not valid. If you copied it from an email, check that it is "
                "complete.", status_code=404)  # fmt: skip


def now_of(app: Any) -> datetime:
    """The app's clock (`app.state.clock`, unix seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(app.state.clock(), UTC)


def _button(label: str, field: str) -> str:
    # No action: the form posts back to this very URL. No CSRF token: the URL token is the
    # authority (and a POST here only ever unsubscribes or confirms its own link's owner).
    return (f'<form method="post"><input type="hidden" name="{field}" value="1">'
            f"<button type=\"submit\">{escape(label)}</button></form>")  # fmt: skip


# --- unsubscribe ---------------------------------------------------------------------------


def delivery_exists(db: Database, delivery_id: int) -> bool:
    with db.read() as conn:
        found = conn.scalar(select(deliveries.c.id).where(deliveries.c.id == delivery_id))
    return found is not None


def unsubscribe_token(
    db: Database, *, key: HashKey, delivery_id: int, one_click: bool, now: datetime
) -> bool:
    """Suppress the recipient of the delivery whose link this is (idempotent).

    False if there is no such delivery. True otherwise, also when the subscriber has been
    erased since (their keyed-hash suppression already blocks the address)."""
    reason = (SuppressionReason.UNSUBSCRIBE_ONE_CLICK if one_click
              else SuppressionReason.UNSUBSCRIBE_FOOTER)  # fmt: skip
    with db.write() as conn:
        row = conn.execute(
            select(deliveries.c.campaign_id, subscribers.c.email)
            .select_from(deliveries)
            .outerjoin(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.id == delivery_id)
        ).first()
        if row is None:
            return False
        if row.email is not None and suppress_once(
            conn, key=key, email=row.email, reason=reason,
            source=f"campaign:{row.campaign_id}", now=now,
        ):  # fmt: skip
            add_counts(conn, {(row.campaign_id, "", "unsubscribes"): 1})
    return True


def _unsubscribe_target(request: Request, token: str) -> LinkToken | None:
    """What an unsubscribe link's token is for: a delivery, a test send, a preview, or None
    for a forged or foreign one (`engagement.link_tokens`)."""
    return resolve("unsubscribe", token, request.app.state.settings.signing_keys)


def _not_a_delivery(settings: Settings, target: LinkToken) -> HTMLResponse:
    from newsletter.web.link_pages import preview_page, test_page

    if target.kind == "test":
        return test_page(settings, "unsubscribe")
    return preview_page(settings, "unsubscribe")


@router.api_route("/u/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    target = _unsubscribe_target(request, token)
    if target is not None and target.kind != "delivery":
        return _not_a_delivery(settings, target)
    if (
        target is None
        or target.id is None
        or not await run_in_threadpool(delivery_exists, request.app.state.db, target.id)
    ):
        return not_found(settings)
    return page(settings, "Unsubscribe?",
                f"Press the button to stop receiving newsletter emails from "
                f"{settings.clinic_name}.", form=_button("Unsubscribe", "confirm"))  # fmt: skip


async def _is_one_click(request: Request) -> bool:
    """True for the RFC 8058 body `List-Unsubscribe=One-Click` (urlencoded or multipart).
    Anything else (an empty browser post, an unreadable body) still unsubscribes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > _MAX_FORM_BYTES:
        return False
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception:  # a broken body must not stop an unsubscribe
        return False
    value = form.get("List-Unsubscribe")
    return isinstance(value, str) and value.strip().lower() == "one-click"


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    target = _unsubscribe_target(request, token)
    if target is None:
        return not_found(settings)
    if target.kind != "delivery":  # a test send or a preview: nobody is unsubscribed
        return _not_a_delivery(settings, target)
    delivery_id = target.id
    if delivery_id is None:  # a delivery token always carries its id
        return not_found(settings)
    one_click = await _is_one_click(request)
    found = await run_in_threadpool(
        unsubscribe_token, request.app.state.db,
        key=settings.key_ring,
        delivery_id=delivery_id, one_click=one_click, now=now_of(request.app),
    )  # fmt: skip
    if not found:
        return not_found(settings)
    return page(settings, "You are unsubscribed",
                f"You will not receive newsletter emails from {settings.clinic_name} any more. "
                "You can close this page.")  # fmt: skip


# --- double opt-in confirmation -------------------------------------------------------------


@router.api_route("/confirm/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def confirm_page(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    if not _CONFIRM_TOKEN.match(token):
        return not_found(settings)
    return page(settings, "Confirm your subscription",
                f"Press the button to confirm that you want to receive newsletter emails from "
                f"{settings.clinic_name}.", form=_button("Confirm", "confirm"))  # fmt: skip


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    if not _CONFIRM_TOKEN.match(token):
        return not_found(settings)
    # An invalid or expired link raises ValidationError: app.py turns it into the 400 page.
    await run_in_threadpool(
        confirm_subscription, request.app.state.db, settings, token,
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:400] or None,
        now=now_of(request.app),
    )  # fmt: skip
    return page(settings, "Subscription confirmed",
                f"Thank you. You will receive newsletter emails from {settings.clinic_name}. "
                "Every email has a link to unsubscribe.")  # fmt: skip
