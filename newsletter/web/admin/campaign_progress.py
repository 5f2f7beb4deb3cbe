"""Live progress of a sending campaign and its controls: `/admin/campaigns/{id}/progress` is
an HTML fragment that HTMX polls every 2 s while the campaign can still change (sent / total,
rate, retries, needs-review count) and stops polling once it has ended; pause, resume, and
cancel behind a confirmation page (no JavaScript needed for any of it).

Everyone who may see campaigns sees the progress; only roles that may send see the controls,
and the control routes answer 403 to anyone else (`require`, server-side).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.errors import NewsletterError
from newsletter.services import campaign_actions
from newsletter.services.campaign_progress import snapshot
from newsletter.storage import campaign_store
from newsletter.web.admin.campaigns import detail
from newsletter.web.admin.pages import ENV, describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
VIEW = Depends(require(Action.CAMPAIGNS_VIEW))
SEND = Depends(require(Action.CAMPAIGNS_SEND))
POLL_SECONDS = 2


def fragment(request: Request, viewer: Viewer, campaign_id: int) -> tuple[str, str]:
    """The progress box (also included in the campaign page) and the campaign's status."""
    shown = snapshot(request.app.state.db, campaign_id, now=now_of(request.app))
    html = ENV.get_template("_progress.html").render(
        p=shown, viewer=viewer, csrf=viewer.csrf_token, Action=Action, poll=POLL_SECONDS
    )
    return html, shown.status


@router.get("/admin/campaigns/{campaign_id}/progress")
async def progress(request: Request, campaign_id: int, viewer: Viewer = VIEW) -> Response:
    """The fragment; when the campaign's status is no longer the one the page was drawn
    with (`shown`), HTMX is told to reload the page once, so its status and buttons follow
    (sending → paused → sent…) without anyone pressing reload."""
    html, status = await run_in_threadpool(fragment, request, viewer, campaign_id)
    was = request.query_params.get("shown")
    changed = was is not None and was != status and request.headers.get("hx-request")
    return HTMLResponse(html, headers={"HX-Refresh": "true"} if changed else None)


async def _control(
    request: Request, viewer: Viewer, campaign_id: int, call: Callable[[], None], done: str
) -> Response:
    try:
        await run_in_threadpool(call)
    except NewsletterError as error:
        message = describe(error)
        return await run_in_threadpool(
            lambda: detail(request, viewer, campaign_id, error=message, status_code=400)
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}?done={done}", status_code=303)


@router.post("/admin/campaigns/{campaign_id}/pause")
async def pause(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    db, now = request.app.state.db, now_of(request.app)
    return await _control(request, viewer, campaign_id,
                          lambda: campaign_actions.pause(db, campaign_id, actor=viewer.actor,
                                                         now=now), "paused")  # fmt: skip


@router.post("/admin/campaigns/{campaign_id}/resume")
async def resume(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    db, now = request.app.state.db, now_of(request.app)
    return await _control(request, viewer, campaign_id,
                          lambda: campaign_actions.resume(db, campaign_id, actor=viewer.actor,
                                                          now=now), "resumed")  # fmt: skip


@router.post("/admin/campaigns/{campaign_id}/cancel")
async def cancel(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    """Without `confirm=yes`: the confirmation page, which says what cancelling does."""
    db, now = request.app.state.db, now_of(request.app)
    if viewer.form.get("confirm") != "yes":

        def confirm_page() -> Response:
            with db.read() as conn:
                row = campaign_store.get_campaign(conn, campaign_id)
            shown = snapshot(db, campaign_id, now=now)
            return render(request, "cancel.html", viewer=viewer, row=row, p=shown)

        return await run_in_threadpool(confirm_page)
    return await _control(request, viewer, campaign_id,
                          lambda: campaign_actions.cancel(db, campaign_id, actor=viewer.actor,
                                                          now=now), "cancelled")  # fmt: skip
