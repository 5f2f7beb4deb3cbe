"""`/admin/campaigns/{id}/stats`: the campaign's outcome from the tracking counters, the same
figures as `newsletter campaign stats` (`engagement.stats.campaign_stats`: a read of a few
hundred counter rows whatever the campaign's size). Headline figures; deliveries and human
clicks over time; clicks per link with consultation ("book") links highlighted; bookings;
machine and scanner clicks shown apart, never mixed with people. Charts are inline SVG
(`charts`), each followed by a table of its numbers: the page needs no JavaScript.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.engagement.stats import campaign_stats
from newsletter.web.admin.charts import Bar, bar_chart, timeline_chart
from newsletter.web.admin.pages import render
from newsletter.web.admin.security import Viewer, require

router = APIRouter()
VIEW = Depends(require(Action.CAMPAIGNS_VIEW))


def charts_of(stats: dict[str, Any]) -> dict[str, str]:
    timeline = stats["timeline"]
    links = sorted(stats["links"], key=lambda link: (-link["human_clicks"], link["key"]))
    return {
        "timeline": timeline_chart(
            timeline, ("delivered", "human_clicks"), title="Deliveries and human clicks over time"
        )
        if timeline
        else "",
        "machines": timeline_chart(
            timeline, ("machine_clicks",), title="Machine and scanner clicks over time"
        )
        if any(p["machine_clicks"] for p in timeline)
        else "",
        "links": bar_chart(
            [
                Bar(
                    link["label"] or link["url"],
                    link["human_clicks"],
                    highlight=link["kind"] == "consultation",
                    note=f" people, {link['conversions']:,} booking(s)",
                )
                for link in links
            ],
            title="People who clicked, per link",
        )
        if links
        else "",
    }


def _page(request: Request, viewer: Viewer, campaign_id: int) -> Response:
    settings = request.app.state.settings
    stats = campaign_stats(request.app.state.db, campaign_id, open_tracking=settings.open_tracking)
    return render(
        request,
        "stats.html",
        viewer=viewer,
        s=stats,
        charts=charts_of(stats),
        links=sorted(stats["links"], key=lambda link: (-link["human_clicks"], link["key"])),
    )


@router.get("/admin/campaigns/{campaign_id}/stats")
async def stats_page(request: Request, campaign_id: int, viewer: Viewer = VIEW) -> Response:
    return await run_in_threadpool(_page, request, viewer, campaign_id)
