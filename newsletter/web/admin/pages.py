"""Rendering admin pages: one Jinja2 environment over the templates beside this module
(autoescaped, strict about undefined names), the navigation, and the error pages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from newsletter.accounts.roles import Action
from newsletter.errors import NewsletterError
from newsletter.web.admin.security import Viewer

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship with the code: no stat() per page view
)


def _when(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def _in_zone(value: datetime | None, zone: str) -> str:
    """An instant on the clock of an IANA zone, with its abbreviation (EST, CET…)."""
    if value is None:
        return "—"
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ValueError, KeyError, OSError):
        return _when(value)
    return f"{local:%Y-%m-%d %H:%M} {local:%Z} ({zone})"


ENV.filters["when"] = _when
ENV.filters["in_zone"] = _in_zone
ENV.globals["Action"] = Action

NAV = [
    ("Dashboard", "/admin", Action.CAMPAIGNS_VIEW),
    ("Campaigns", "/admin/campaigns", Action.CAMPAIGNS_VIEW),
    ("Articles", "/admin/articles", Action.ARTICLES_VIEW),
    ("Users", "/admin/users", Action.USERS_MANAGE),
    ("Account", "/admin/account", Action.ACCOUNT_SELF),
]


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    nav = [(label, href) for label, href, action in NAV if viewer and viewer.may(action)]
    html = ENV.get_template(template).render(
        clinic=settings.clinic_name,
        viewer=viewer,
        csrf=viewer.csrf_token if viewer else "",
        nav=nav,
        path=request.url.path,
        error=context.pop("error", None),
        notice=context.pop("notice", None),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def describe(error: NewsletterError) -> str:
    """A service error for a page: what is wrong, and how to fix it."""
    return error.message + (f" {error.fix[0].upper()}{error.fix[1:]}." if error.fix else "")


def error_page(
    request: Request, title: str, message: str, *, status_code: int, viewer: Viewer | None = None
) -> HTMLResponse:
    return render(
        request, "error.html", viewer=viewer, status_code=status_code, title=title, message=message
    )
