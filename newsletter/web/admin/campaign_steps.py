"""The campaign page's buttons that change a campaign: edit while draft, submit, approve or
reject with a comment, send once approved, duplicate, delete a draft.

Each handler checks the role (`require`) before calling the service, which checks the
approval rule once more; a refusal re-renders the campaign page with the reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.domain.approval import Step
from newsletter.errors import Forbidden, NewsletterError
from newsletter.services import approval, campaign_drafts
from newsletter.web.admin.campaigns import detail
from newsletter.web.admin.pages import describe
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
EDIT = Depends(require(Action.CAMPAIGNS_EDIT))
APPROVE = Depends(require(Action.CAMPAIGNS_APPROVE))
SEND = Depends(require(Action.CAMPAIGNS_SEND))


async def _act(
    request: Request, viewer: Viewer, campaign_id: int, call: Any, done: str
) -> Response:
    try:
        result = await run_in_threadpool(call)
    except NewsletterError as error:
        status = 403 if isinstance(error, Forbidden) else 400
        return await run_in_threadpool(
            detail, request, viewer, campaign_id, error=describe(error), status_code=status
        )
    target = result if done == "duplicated" else campaign_id
    if done == "edited" and result:
        done = "withdrawn"
    return RedirectResponse(f"/admin/campaigns/{target}?done={done}", status_code=303)


@router.post("/admin/campaigns/{campaign_id}/edit")
async def edit(request: Request, campaign_id: int, viewer: Viewer = EDIT) -> Response:
    form = viewer.form
    change = campaign_drafts.DraftEdit(
        subject=form.get("subject", ""),
        preheader=form.get("preheader", ""),
        sender_name=form.get("sender_name", ""),
        sender_email=form.get("sender_email", ""),
    )
    return await _act(
        request,
        viewer,
        campaign_id,
        lambda: campaign_drafts.edit_draft(
            request.app.state.db,
            request.app.state.settings,
            campaign_id,
            change,
            actor=viewer.actor,
            now=now_of(request.app),
        ),
        "edited",
    )


def _step(request: Request, viewer: Viewer, campaign_id: int, step: Step) -> Any:
    return lambda: approval.take_step(
        request.app.state.db,
        campaign_id,
        step,
        viewer.actor,
        comment=viewer.form.get("comment", ""),
        now=now_of(request.app),
    )


@router.post("/admin/campaigns/{campaign_id}/submit")
async def submit(request: Request, campaign_id: int, viewer: Viewer = EDIT) -> Response:
    return await _act(
        request, viewer, campaign_id, _step(request, viewer, campaign_id, Step.SUBMIT), "submit"
    )


@router.post("/admin/campaigns/{campaign_id}/approve")
async def approve(request: Request, campaign_id: int, viewer: Viewer = APPROVE) -> Response:
    return await _act(
        request, viewer, campaign_id, _step(request, viewer, campaign_id, Step.APPROVE), "approve"
    )


@router.post("/admin/campaigns/{campaign_id}/reject")
async def reject(request: Request, campaign_id: int, viewer: Viewer = APPROVE) -> Response:
    return await _act(
        request, viewer, campaign_id, _step(request, viewer, campaign_id, Step.REJECT), "reject"
    )


@router.post("/admin/campaigns/{campaign_id}/send")
async def send(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    state = request.app.state
    return await _act(
        request,
        viewer,
        campaign_id,
        lambda: campaign_drafts.send_now(
            state.db,
            state.settings,
            campaign_id,
            actor=viewer.actor,
            now=now_of(request.app),
        ),
        "sent",
    )


@router.post("/admin/campaigns/{campaign_id}/duplicate")
async def duplicate(request: Request, campaign_id: int, viewer: Viewer = EDIT) -> Response:
    return await _act(
        request,
        viewer,
        campaign_id,
        lambda: campaign_drafts.duplicate(
            request.app.state.db, campaign_id, actor=viewer.actor, now=now_of(request.app)
        ),
        "duplicated",
    )


@router.post("/admin/campaigns/{campaign_id}/delete")
async def delete(request: Request, campaign_id: int, viewer: Viewer = EDIT) -> Response:
    try:
        await run_in_threadpool(
            campaign_drafts.delete_draft,
            request.app.state.db,
            campaign_id,
            actor=viewer.actor,
            now=now_of(request.app),
        )
    except NewsletterError as error:
        return await run_in_threadpool(
            detail, request, viewer, campaign_id, error=describe(error), status_code=400
        )
    return RedirectResponse("/admin/campaigns?done=deleted", status_code=303)
