"""The admin: pages under /admin for the clinic's marketers, staff and admins, sharing the
app factory (`web/app.py` calls `install` unless `NEWSLETTER_ADMIN_ENABLED=false`).

One module per area, each a router over services: `auth` (sign-in, second factor, sign-out,
own account), `users`, `articles`, `dashboard`, and the campaigns: `campaigns` (list, new,
the campaign page), `campaign_steps`, `campaign_preview`, `campaign_schedule`,
`campaign_progress`, `campaign_stats` (with `charts`), `campaign_review` (held batches).
`security` holds what every request goes through (session, role, CSRF, form limits, headers),
`pages` the Jinja2 rendering. Templates and the vendored HTMX (with its licence) live beside
them; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.config import Settings
from newsletter.errors import Forbidden, NewsletterError, NotFound
from newsletter.services.campaign_drafts import ProgressCache
from newsletter.web.admin import (
    articles,
    auth,
    campaign_preview,
    campaign_progress,
    campaign_review,
    campaign_schedule,
    campaign_stats,
    campaign_steps,
    campaigns,
    dashboard,
    users,
)
from newsletter.web.admin.pages import STATIC, describe, error_page
from newsletter.web.admin.security import (
    AdminForbidden,
    AdminHeaders,
    BadForm,
    LoginRequired,
    Viewer,
    current_session,
    https,
)

PUBLIC_PATHS = frozenset({"/admin/login"})  # and /admin/static/…


def install(app: FastAPI, settings: Settings) -> None:
    """Add the admin's routes, static files, headers and error pages (after the public
    app's error pages, which it keeps for every other path)."""
    for module in (
        dashboard,
        auth,
        users,
        articles,
        campaigns,
        campaign_preview,
        campaign_schedule,
        campaign_stats,
        campaign_steps,
        campaign_review,
        campaign_progress,
    ):
        app.include_router(module.router)
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="admin-static")
    app.add_middleware(AdminHeaders, hsts=https(settings))
    app.state.admin_progress = ProgressCache(app.state.db)

    public_error = app.exception_handlers[NewsletterError]
    public_http = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(NewsletterError)
    async def service_error(request: Request, error: NewsletterError) -> Response:
        if not request.url.path.startswith("/admin"):
            return await _answer(public_error(request, error))
        status = (
            404 if isinstance(error, NotFound) else 403 if isinstance(error, Forbidden) else 400
        )
        title = {404: "Not found", 403: "Not allowed"}.get(status, "This cannot be done")
        return error_page(
            request, title, describe(error), status_code=status, viewer=await _viewer(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if not request.url.path.startswith("/admin") or error.status_code != 404:
            return await _answer(public_http(request, error))
        return error_page(
            request,
            "Not found",
            "There is no such page in the admin.",
            status_code=404,
            viewer=await _viewer(request),
        )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": error.location})
        return RedirectResponse(error.location, status_code=303)

    @app.exception_handler(AdminForbidden)
    async def forbidden(request: Request, error: AdminForbidden) -> Response:
        return error_page(
            request, "Not allowed", error.message, status_code=403, viewer=await _viewer(request)
        )

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, error: BadForm) -> Response:
        return error_page(
            request,
            "This form cannot be used",
            error.message,
            status_code=error.status,
            viewer=await _viewer(request),
        )


async def _viewer(request: Request) -> Viewer | None:
    session = await current_session(request)
    return Viewer(session) if session is not None else None


async def _answer(result: Response | Awaitable[Response]) -> Response:
    """What another exception handler answered (Starlette lets a handler be either kind)."""
    return await result if inspect.isawaitable(result) else result
