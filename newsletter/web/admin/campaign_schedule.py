"""`/admin/campaigns/{id}/schedule`: pick a date and time on a wall clock and an IANA time
zone (default: the campaign's zone, which is `NEWSLETTER_TIME_ZONE` unless it was scheduled
in another), see the instant in that zone and in UTC, then confirm; the late-send window;
reschedule and unschedule.

Two steps so nobody schedules 9:00 in the wrong zone: the first POST only shows what the
choice means (and whether the approval and the checklist allow it), the second, carrying
`confirm`, schedules through `campaign_actions.schedule` (approval and checklist checked
again there, under the write lock). Only roles that may send see this page (403 otherwise).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.domain.approval import Approval
from newsletter.errors import NewsletterError
from newsletter.services import approval, campaign_actions
from newsletter.services.campaign_checks import preflight
from newsletter.storage import campaign_store
from newsletter.web.admin.campaigns import detail
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
SEND = Depends(require(Action.CAMPAIGNS_SEND))
_ODD = ("Etc/", "SystemV/")
ZONES = [*sorted(z for z in available_timezones() if "/" in z and not z.startswith(_ODD)), "UTC"]


def _form_defaults(request: Request, row: Any) -> dict[str, str]:
    """The form as first shown: the current send time, else tomorrow 09:00, in the
    campaign's zone."""
    zone = row.time_zone or request.app.state.settings.time_zone
    now = now_of(request.app)
    if row.scheduled_at is not None:
        local = row.scheduled_at.astimezone(ZoneInfo(zone))
    else:
        local = (now.astimezone(ZoneInfo(zone)) + timedelta(days=1)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
    window = row.late_send_window_s or request.app.state.settings.late_send_window_s
    return {"at": f"{local:%Y-%m-%dT%H:%M}", "zone": zone, "late_hours": f"{window / 3600:g}"}


def _page(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    form: dict[str, str] | None = None,
    *,
    chosen: Any = None,
    error: str | None = None,
) -> Response:
    db = request.app.state.db
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        flow = approval.workflow_in(conn, request.app.state.settings, campaign_id)
    values = {**_form_defaults(request, row), **(form or {})}
    unapproved = flow.enforced and flow.approval is not Approval.APPROVED
    return render(
        request,
        "schedule.html",
        viewer=viewer,
        row=row,
        form=values,
        zones=ZONES,
        chosen=chosen,
        unapproved=unapproved,
        error=error,
        status_code=400 if error else 200,
    )


@router.get("/admin/campaigns/{campaign_id}/schedule")
async def schedule_page(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    return await run_in_threadpool(_page, request, viewer, campaign_id)


@router.post("/admin/campaigns/{campaign_id}/schedule")
async def schedule(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    state = request.app.state
    form = {k: viewer.form.get(k, "")[:100] for k in ("at", "zone", "late_hours")}
    now = now_of(request.app)

    def check() -> Any:
        """What the choice means, refused early if the campaign may not go out."""
        when = campaign_actions.send_time(form["at"], form["zone"], now=now)
        campaign_actions.late_window(form["late_hours"])
        with state.db.read() as conn:
            row = campaign_store.get_campaign(conn, campaign_id)
            approval.require_approval(conn, state.settings, campaign_id)
        preflight(row, state.settings)
        return when

    def commit() -> None:
        when = campaign_actions.send_time(form["at"], form["zone"], now=now)
        window = campaign_actions.late_window(form["late_hours"])
        campaign_actions.schedule(state.db, state.settings, campaign_id, when,
                                  late_window_s=window, actor=viewer.actor, now=now)  # fmt: skip

    try:
        if viewer.form.get("confirm") != "yes":
            chosen = await run_in_threadpool(check)
            return await run_in_threadpool(
                lambda: _page(request, viewer, campaign_id, form, chosen=chosen)
            )
        await run_in_threadpool(commit)
    except NewsletterError as error:
        message = describe(error)
        return await run_in_threadpool(
            lambda: _page(request, viewer, campaign_id, form, error=message)
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}?done=scheduled", status_code=303)


@router.post("/admin/campaigns/{campaign_id}/unschedule")
async def unschedule(request: Request, campaign_id: int, viewer: Viewer = SEND) -> Response:
    try:
        await run_in_threadpool(
            lambda: campaign_actions.unschedule(
                request.app.state.db, campaign_id, actor=viewer.actor, now=now_of(request.app)
            )
        )
    except NewsletterError as error:
        message = describe(error)
        return await run_in_threadpool(
            lambda: detail(request, viewer, campaign_id, error=message, status_code=400)
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}?done=unscheduled", status_code=303)
