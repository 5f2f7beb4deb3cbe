"""`/admin`: the dashboard every signed-in role that may see campaigns lands on — the recent
campaigns with their key figures (from the counters, `services.dashboard`), what is
scheduled, and how many wait for approval."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.services.dashboard import dashboard
from newsletter.web.admin.pages import render
from newsletter.web.admin.security import Viewer, require

router = APIRouter()
VIEW = Depends(require(Action.CAMPAIGNS_VIEW))


@router.get("/admin")
async def dashboard_page(request: Request, viewer: Viewer = VIEW) -> Response:
    board = await run_in_threadpool(dashboard, request.app.state.db)
    return render(request, "dashboard.html", viewer=viewer, board=board)
