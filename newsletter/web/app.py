"""The product's web app: SendGrid Event Webhook intake, unsubscribe and opt-in confirmation,
the click redirect and open pixel, the preference page, and booking conversions.

`create_app(settings, db)` builds it, with the admin under /admin (newsletter/web/admin/)
unless `NEWSLETTER_ADMIN_ENABLED=false`; `newsletter serve` runs it under uvicorn with one worker
(`serve_app`). State the routes share lives on `app.state`: `settings`, `db`, `clock` (unix
seconds; tests replace it to check the webhook freshness window), `webhook_stats` (rejection
counters), `links` (a cache of campaigns' links) and `clicks` (the click recorder, whose
thread starts and stops with the app). The client address is taken from `X-Forwarded-For`
only when the peer is one of `NEWSLETTER_TRUSTED_PROXIES` (`ForwardedFor`).
Errors are mapped to pages once, here: a NewsletterError becomes a 400 (NotFound a 404) page
with its message, anything else a bare 500 page; clients never see a traceback.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from newsletter.config import Settings
from newsletter.engagement.directory import LinkDirectory
from newsletter.engagement.network import client_address, parse_networks
from newsletter.engagement.recorder import ClickRecorder
from newsletter.engagement.retention import purge
from newsletter.errors import NewsletterError, NotFound
from newsletter.storage.database import Database
from newsletter.web import conversions, links, preferences, public, webhooks
from newsletter.web.public import now_of, page

log = logging.getLogger(__name__)

__all__ = ["create_app", "now_of", "serve_app"]


def create_app(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], float] | None = None,
    process_on_startup: bool = True,
) -> FastAPI:
    """The web app. On start-up (lifespan) it processes any webhook batch stored but not yet
    processed, e.g. after a crash between the inbox insert and the processing (W-09)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if process_on_startup:
            counts = await run_in_threadpool(webhooks.process_pending, app)
            if counts.rows or counts.failed_rows:
                log.info("start-up: processed %s pending webhook batch(es)", counts.rows)
        app.state.clicks.start()
        try:
            yield
        finally:
            await run_in_threadpool(app.state.clicks.stop)

    app = FastAPI(
        title=f"{settings.clinic_name} newsletter",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock or time.time
    app.state.webhook_stats = Counter()
    app.state.links = LinkDirectory(db)
    app.state.clicks = ClickRecorder(db, housekeeping=lambda: purge(db, now=now_of(app)))
    app.include_router(webhooks.router)
    app.include_router(public.router)
    app.include_router(links.router)
    app.include_router(preferences.router)
    app.include_router(conversions.router)
    networks = parse_networks(settings.trusted_proxies)
    if networks:
        app.add_middleware(ForwardedFor, networks=networks)
    _install_error_pages(app, settings)
    if settings.admin_enabled:
        from newsletter.web import admin

        admin.install(app, settings)
    return app


def _install_error_pages(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(NewsletterError)
    async def newsletter_error(request: Request, error: NewsletterError) -> Response:
        status = 404 if isinstance(error, NotFound) else 400
        detail = error.message + (f" {error.fix}" if error.fix else "")
        return page(settings, "Sorry", detail, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            return public.not_found(settings)
        headers = dict(error.headers or {})
        return page(settings, "Sorry", "This request cannot be handled.",
                    status_code=error.status_code, headers=headers)  # fmt: skip

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, error: ClientDisconnect) -> Response:
        # Nobody is left to answer: one line, no traceback (the body was not used).
        route = getattr(request.scope.get("route"), "path", "?")
        log.info("client disconnected before sending the whole body: %s %s", request.method,
                 route)  # fmt: skip
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        return page(settings, "Sorry", "This request is not valid.", status_code=400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        route = getattr(request.scope.get("route"), "path", "?")  # the template: no tokens
        log.exception("unhandled error on %s %s", request.method, route)
        return page(settings, "Sorry", "Something went wrong on our side. Please try again "
                    "later.", status_code=500)  # fmt: skip


class ForwardedFor:
    """ASGI middleware: the client behind trusted proxies (`network.client_address`), for
    every route (click rows, consent records)."""

    def __init__(self, app: Any, networks: tuple[Any, ...]):
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client:
            forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
            if forwarded:
                value = b",".join(forwarded).decode("latin-1")
                real = client_address(client[0], value, self.networks)
                if real != client[0]:
                    scope = {**scope, "client": (real, 0)}
        await self.app(scope, receive, send)


def serve_app(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> None:
    """Run the app as `newsletter serve` does in production: uvicorn, one worker, no server
    header, no proxy-header handling of uvicorn's own (`ForwardedFor` does it, from
    NEWSLETTER_TRUSTED_PROXIES), and an access log without link tokens and without clicks
    (web/access_log.py)."""
    import uvicorn

    from newsletter.web.access_log import log_config

    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level,
                log_config=log_config(), server_header=False, proxy_headers=False)  # fmt: skip
