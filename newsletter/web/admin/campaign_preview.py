"""`/admin/campaigns/{id}/preview`: the campaign's stored email at desktop (600 px) and mobile
(375 px) width, its text part and its inbox line, for a chosen real subscriber (searched by
email with HTMX, or with a plain form without JavaScript), beside the pre-send checklist with
a link to where each problem is fixed; and the test send to at most ten seed addresses.

The frames are sandboxed exactly as `newsletter preview` sandboxes them (`web.preview`:
`sandbox="allow-same-origin"` without scripts, the email served with `EMAIL_CSP`). The
email's links carry tokens of purpose `preview`, never the subscriber's own. The subscriber
is named in URLs by their internal id, never by address; the search is a POST, so no address
lands in a URL or an access log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.bootstrap import delivery_backend
from newsletter.errors import NewsletterError
from newsletter.services import campaign_actions, campaign_preview
from newsletter.services.campaign_checks import CampaignWarning
from newsletter.web.admin.campaigns import detail
from newsletter.web.admin.pages import ENV, describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.preview import EMAIL_CSP, FRAME_SANDBOX
from newsletter.web.public import now_of

router = APIRouter()
PREVIEW = Depends(require(Action.CAMPAIGNS_PREVIEW))
TEST_SEND = Depends(require(Action.CAMPAIGNS_TEST_SEND))

#: Where each checklist item is fixed: the campaign's own fields, its article, the template,
#: or a setting (docs/settings.md).
FIELDS = {"Subject", "Preheader", "Headers"}
SETTINGS = {"Postal address": "NEWSLETTER_POSTAL_ADDRESS", "Public URL": "NEWSLETTER_PUBLIC_URL"}
TEMPLATE = {"Unsubscribe link", "No template leftovers", "Attribute values", "No scripts"}


def _subscriber(request: Request) -> int | None:
    raw = request.query_params.get("as", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def fix_for(check: CampaignWarning, campaign_id: int, article_id: int | None) -> tuple[str, str]:
    """(link, words) saying where a checklist problem is fixed."""
    if check.name in FIELDS:
        return f"/admin/campaigns/{campaign_id}#edit-form", "Edit the campaign's fields"
    if check.name in SETTINGS:
        return "", f"Set {SETTINGS[check.name]} in the settings (docs/settings.md)"
    if check.name in TEMPLATE:
        return "", "Fix the template (NEWSLETTER_TEMPLATES_DIR, docs/templates.md)"
    if article_id is not None:
        return f"/admin/articles/{article_id}", "Fix the article, then duplicate the campaign"
    return "", "Fix the article file, then create the campaign again"


def _page(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    *,
    results: list[Any] | None = None,
    query: str = "",
) -> Response:
    state = request.app.state
    shown = campaign_preview.preview_for(
        state.db, state.settings, campaign_id, _subscriber(request)
    )
    article_id = shown.article_ids[0] if shown.article_ids else None
    checks = [(c, fix_for(c, campaign_id, article_id)) for c in shown.checks]
    return render(
        request,
        "preview.html",
        viewer=viewer,
        shown=shown,
        row=shown.campaign,
        checks=checks,
        sandbox=FRAME_SANDBOX,
        results=results,
        query=query,
        frame_query=f"?as={shown.subscriber_id}" if shown.subscriber_id else "",
    )


@router.get("/admin/campaigns/{campaign_id}/preview")
async def preview_page(request: Request, campaign_id: int, viewer: Viewer = PREVIEW) -> Response:
    return await run_in_threadpool(_page, request, viewer, campaign_id)


@router.get("/admin/campaigns/{campaign_id}/preview/email.html")
async def preview_email(request: Request, campaign_id: int, viewer: Viewer = PREVIEW) -> Response:
    """The email alone, for the sandboxed frames: no script runs in it (`EMAIL_CSP`)."""
    state = request.app.state
    shown = await run_in_threadpool(
        campaign_preview.preview_for, state.db, state.settings, campaign_id, _subscriber(request)
    )
    return HTMLResponse(
        shown.email.html,
        headers={"Content-Security-Policy": EMAIL_CSP, "X-Content-Type-Options": "nosniff"},
    )


@router.post("/admin/campaigns/{campaign_id}/preview/search")
async def search(request: Request, campaign_id: int, viewer: Viewer = PREVIEW) -> Response:
    """Subscribers whose address starts with what was typed: a fragment for HTMX, the whole
    preview page for a browser without JavaScript."""
    query = viewer.form.get("q", "")[:254]
    found = await run_in_threadpool(
        campaign_preview.search_subscribers, request.app.state.db, query
    )
    if request.headers.get("hx-request"):
        html = ENV.get_template("_subscriber_results.html").render(
            results=found, query=query, campaign_id=campaign_id
        )
        return HTMLResponse(html)
    return await run_in_threadpool(
        lambda: _page(request, viewer, campaign_id, results=found, query=query)
    )


def _backend(request: Request) -> Any:
    """The delivery backend the engine uses (the app keeps one; tests may set their own)."""
    state = request.app.state
    if getattr(state, "admin_backend", None) is None:
        state.admin_backend = delivery_backend(state.settings)
    return state.admin_backend


@router.post("/admin/campaigns/{campaign_id}/test-send")
async def test_send(request: Request, campaign_id: int, viewer: Viewer = TEST_SEND) -> Response:
    state = request.app.state

    def send() -> int:
        addresses = campaign_actions.parse_test_addresses(viewer.form.get("addresses", ""))
        return campaign_actions.test_send(state.db, state.settings, _backend(request),
                                          campaign_id, addresses, actor=viewer.actor,
                                          now=now_of(request.app))  # fmt: skip

    try:
        count = await run_in_threadpool(send)
    except NewsletterError as error:
        message = describe(error)
        return await run_in_threadpool(
            lambda: detail(request, viewer, campaign_id, error=message, status_code=400)
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}?done=tested&n={count}", 303)
