"""`/admin/campaigns`: the list (status, segment, approval, progress), a new draft from stored
articles + template + segment with a live recipient count, and the campaign page (`detail`,
which the other campaign routers re-render with an error).

The campaign page's buttons live in one router each: `campaign_steps` (edit, submit,
approve, reject, send, duplicate, delete), `campaign_preview` (preview, test send),
`campaign_schedule`, `campaign_progress` (progress, pause, resume, cancel) and
`campaign_stats`. Each button is shown only to roles that may use it, and each handler checks
the role again (`require`).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.domain.approval import Approval
from newsletter.errors import NewsletterError
from newsletter.services import article_library, campaign_drafts
from newsletter.services.campaign_progress import snapshot
from newsletter.services.segments import count_segment, get_segment, list_segments
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
VIEW = Depends(require(Action.CAMPAIGNS_VIEW))
EDIT = Depends(require(Action.CAMPAIGNS_EDIT))
APPROVE = Depends(require(Action.CAMPAIGNS_APPROVE))
SEND = Depends(require(Action.CAMPAIGNS_SEND))
LIVE = ("planning", "sending", "paused", "needs_review")
HIDDEN_TEMPLATES = {"layout", "_blocks", "confirm"}
NOTICES = {
    "created": "The draft is created.",
    "edited": "The draft is saved.",
    "withdrawn": "The draft is saved; its approval was withdrawn, so it must be submitted again.",
    "submit": "The campaign is submitted for approval.",
    "approve": "The campaign is approved.",
    "reject": "The campaign is rejected and goes back to its author.",
    "duplicated": "This is a new draft copied from the campaign.",
    "sent": "The campaign is queued: the engine starts sending it within a tick.",
    "tested": "The test email is sent to the seed addresses, marked [TEST].",
    "scheduled": "The campaign is scheduled.",
    "unscheduled": "The campaign is back to draft; its approval stands.",
    "paused": "The campaign is paused: no new batch starts until it is resumed.",
    "resumed": "The campaign is sending again.",
    "cancelled": "The campaign is cancelled: batches not yet sent will not be.",
}


def _list(request: Request, viewer: Viewer) -> Response:
    page = request.query_params.get("page", "1")
    number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    db = request.app.state.db
    rows, more = campaign_drafts.list_page(db, page=number)
    progress = request.app.state.admin_progress.get([r.id for r in rows if r.status in LIVE])
    notice = "The draft is deleted." if request.query_params.get("done") == "deleted" else None
    return render(
        request,
        "campaigns.html",
        viewer=viewer,
        campaigns=rows,
        progress=progress,
        page=number,
        more=more,
        notice=notice,
    )


@router.get("/admin/campaigns")
async def campaigns_page(request: Request, viewer: Viewer = VIEW) -> Response:
    return await run_in_threadpool(_list, request, viewer)


def _templates(settings: Any) -> list[str]:
    names = {p.stem for p in settings.templates_path.glob("*.mjml")}
    return sorted(names - HIDDEN_TEMPLATES)


def _count(request: Request, segment: str) -> str:
    settings = request.app.state.settings
    try:
        found = count_segment(request.app.state.db, get_segment(settings.audiences_dir, segment))
    except NewsletterError as error:
        return describe(error)
    return f"{found:,} recipient{'s' if found != 1 else ''} now"


def _new(
    request: Request,
    viewer: Viewer,
    form: dict[str, str],
    *,
    error: str | None = None,
    count: bool = False,
) -> Response:
    settings = request.app.state.settings
    segments = [s for s in list_segments(settings.audiences_dir) if s.error is None]
    chosen = form.get("segment") or (segments[0].name if segments else "")
    return render(
        request,
        "campaign_new.html",
        viewer=viewer,
        form=form,
        error=error,
        articles=article_library.list_articles(request.app.state.db),
        segments=segments,
        templates=_templates(settings),
        chosen_segment=chosen,
        count=_count(request, chosen) if count and chosen else None,
        status_code=400 if error else 200,
    )


@router.get("/admin/campaigns/new")
async def new_page(request: Request, viewer: Viewer = EDIT) -> Response:
    form = {k: v[:300] for k, v in request.query_params.items()}
    return await run_in_threadpool(_new, request, viewer, form, count="count" in form)


@router.get("/admin/campaigns/count")
async def recipient_count(request: Request, viewer: Viewer = EDIT) -> Response:
    """The HTMX fragment behind the live recipient count."""
    segment = request.query_params.get("segment", "")[:100]
    text = await run_in_threadpool(_count, request, segment)
    return HTMLResponse(f'<span id="recipient-count">{escape(text)}</span>')


@router.post("/admin/campaigns")
async def create(request: Request, viewer: Viewer = EDIT) -> Response:
    form = viewer.form
    raw = form.get("article", "")
    if not raw.isdigit():
        return await run_in_threadpool(_new, request, viewer, form, error="Choose an article.")

    def make() -> int:
        return campaign_drafts.create_from_library(
            request.app.state.db,
            request.app.state.settings,
            [int(raw)],
            segment=form.get("segment", ""),
            template=form.get("template", "article"),
            subject=form.get("subject") or None,
            author=viewer.actor,
            now=now_of(request.app),
        )

    try:
        campaign_id = await run_in_threadpool(make)
    except NewsletterError as error:
        return await run_in_threadpool(_new, request, viewer, form, error=describe(error))
    return RedirectResponse(f"/admin/campaigns/{campaign_id}?done=created", status_code=303)


def detail(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    state = request.app.state
    row, titles, flow = campaign_drafts.page(state.db, state.settings, campaign_id)
    live = (
        None if row.status == "draft" else snapshot(state.db, campaign_id, now=now_of(request.app))
    )
    is_author = flow.author == viewer.session.email
    may_send = row.status == "draft" and (not flow.enforced or flow.approval is Approval.APPROVED)
    return render(
        request,
        "campaign.html",
        viewer=viewer,
        row=row,
        articles=titles,
        flow=flow,
        p=live,
        poll=2,
        is_author=is_author,
        may_send=may_send,
        error=error,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
    )


@router.get("/admin/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: int, viewer: Viewer = VIEW) -> Response:
    return await run_in_threadpool(detail, request, viewer, campaign_id)
