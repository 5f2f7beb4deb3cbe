"""Batches held for review (`needs_review`) on the campaign's own page, for admins:
`/admin/campaigns/{id}/review` lists each with its evidence (attempts, HTTP status, request
time, errors, provider events seen) and resolves them — accept as sent, or resend after a
confirmation page that spells out the duplicate risk. The same service as `newsletter
campaign review` (services/review.py); every decision lands in the audit log with its author.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.errors import NewsletterError, ValidationError
from newsletter.services import review
from newsletter.storage import campaign_store
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
REVIEW = Depends(require(Action.CAMPAIGNS_REVIEW))
DONE = {"accepted": "Recorded as sent.", "resent": "Queued to be sent again."}


def batch_ids(text: str) -> list[int]:
    """The form's `batches` field: ids separated by spaces or commas."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if not parts or not all(p.isdigit() and len(p) < 12 for p in parts):
        raise ValidationError(
            "choose the batches to resolve", where="batches", fix="pick them from the list"
        )
    return [int(p) for p in parts]


def _page(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    *,
    error: str | None = None,
    confirm: list[int] | None = None,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    held = review.list_needs_review(db, campaign_id)
    return render(
        request,
        "review.html",
        viewer=viewer,
        row=row,
        held=held,
        all_ids=" ".join(str(b.id) for b in held),
        error=error,
        confirm=confirm,
        risk=review.RESEND_RISK,
        notice=DONE.get(request.query_params.get("done", "")),
        status_code=status_code,
    )


@router.get("/admin/campaigns/{campaign_id}/review")
async def held(request: Request, campaign_id: int, viewer: Viewer = REVIEW) -> Response:
    return await run_in_threadpool(_page, request, viewer, campaign_id)


@router.post("/admin/campaigns/{campaign_id}/review")
async def decide(request: Request, campaign_id: int, viewer: Viewer = REVIEW) -> Response:
    """`decision=accept`, or `decision=resend` (first without `confirm=yes`: the page asks,
    with the risk spelled out)."""
    db, now = request.app.state.db, now_of(request.app)
    decision = viewer.form.get("decision", "")

    def run() -> Response:
        try:
            ids = batch_ids(viewer.form.get("batches", ""))
            if decision == "accept":
                review.accept(db, campaign_id, ids, viewer.actor.audit_name, now)
                done = "accepted"
            elif decision == "resend" and viewer.form.get("confirm") != "yes":
                return _page(request, viewer, campaign_id, confirm=ids)
            elif decision == "resend":
                review.resend(db, campaign_id, ids, viewer.actor.audit_name, now)
                done = "resent"
            else:
                raise ValidationError(
                    "choose accept or resend", where="decision", fix="use the page's buttons"
                )
        except NewsletterError as exc:
            return _page(request, viewer, campaign_id, error=describe(exc), status_code=400)
        return RedirectResponse(
            f"/admin/campaigns/{campaign_id}/review?done={done}", status_code=303
        )

    return await run_in_threadpool(run)
