"""What every admin request goes through: the session cookie, the role check, CSRF, safe form
reading, and the security headers.

- Sessions: `load_session` on the cookie; unauthenticated → `LoginRequired` (303 to the login
  page), a session between password and second factor → sent to finish it, a role without
  the action → `AdminForbidden` (403). Checked in every handler through `require(action)`.
- CSRF: every POST carries the session's synchronizer token (form field `csrf_token`, or
  the `X-CSRF-Token` header HTMX sends from `hx-headers`), and an `Origin` (or, failing that,
  `Referer`) that is this site's; the login form, before any session, uses a signed
  double-submit token. SameSite=Strict cookies are the second layer.
- Forms are read with a byte cap while streaming, a field cap, and refused (400) if they are
  not UTF-8 or hold NUL characters, so hostile bodies never reach a service or a database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.accounts.login import SessionUser, load_session
from newsletter.accounts.roles import Action, allowed
from newsletter.accounts.service import Actor
from newsletter.accounts.sessions import Stage, same_token
from newsletter.config import Settings
from newsletter.web.public import now_of

FORM_BYTES = 256 * 1024
UPLOAD_BYTES = 6 * 1024 * 1024
LOGIN_CSRF_COOKIE = "nl_login_csrf"
STAGE_PAGES = {
    Stage.MFA: "/admin/login/2fa",
    Stage.ENROL: "/admin/enrol",
    Stage.FULL: "/admin/campaigns",
}


class LoginRequired(Exception):  # (control flow, mapped to a 303)
    def __init__(self, location: str = "/admin/login"):
        self.location = location


class AdminForbidden(Exception):  # (mapped to the branded 403 page)
    def __init__(self, message: str = "Your role does not allow this."):
        self.message = message


class BadForm(Exception):  # (mapped to a 400 / 413 page)
    def __init__(self, message: str, status: int = 400):
        self.message = message
        self.status = status


def https(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def session_cookie(settings: Settings) -> str:
    """`__Host-` (Secure, host-only, path /) whenever the site is served over https."""
    return "__Host-nl_admin" if https(settings) else "nl_admin"


def set_session_cookie(response: Any, settings: Settings, session_id: str) -> None:
    response.set_cookie(
        session_cookie(settings),
        session_id,
        httponly=True,
        secure=https(settings),
        samesite="strict",
        path="/",
    )


def clear_session_cookie(response: Any, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie(settings), path="/", secure=https(settings), httponly=True, samesite="strict"
    )


def client_ip(request: Request) -> str | None:
    """The client's address; behind a trusted proxy the app's `ForwardedFor` middleware has
    already put the real one here (NEWSLETTER_TRUSTED_PROXIES)."""
    return request.client.host if request.client else None


@dataclass
class Viewer:
    """The signed-in person handling this request, and what their form said."""

    session: SessionUser
    form: dict[str, str] = field(default_factory=dict)
    upload: UploadFile | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.session.user_id, self.session.email, self.session.role)

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def may(self, action: Action | str) -> bool:
        return allowed(self.session.role, action)


async def current_session(request: Request) -> SessionUser | None:
    if "admin_session" not in request.state._state:
        settings: Settings = request.app.state.settings
        cookie = request.cookies.get(session_cookie(settings))
        request.state.admin_session = await run_in_threadpool(
            load_session, request.app.state.db, cookie, now_of(request.app)
        )
    return request.state.admin_session


def require(
    action: Action | None, *, stages: tuple[Stage, ...] = (Stage.FULL,)
) -> Callable[[Request], Awaitable[Viewer]]:
    """A dependency: a signed-in session at one of `stages` whose role may do `action`;
    a POST must also pass the CSRF checks (its form is read here, `Viewer.form`)."""

    async def dependency(request: Request) -> Viewer:
        session = await current_session(request)
        if session is None:
            raise LoginRequired()
        if session.stage not in stages:  # send it where its stage belongs
            raise LoginRequired(STAGE_PAGES[session.stage])
        if action is not None and not allowed(session.role, action):
            raise AdminForbidden()
        viewer = Viewer(session)
        if request.method == "POST":
            check_origin(request)
            viewer.form, viewer.upload = await read_form(request)
            token = viewer.form.get("csrf_token") or request.headers.get("x-csrf-token")
            if not same_token(token, session.csrf_token):
                raise AdminForbidden(
                    "This form has expired or did not come from this site. "
                    "Go back, reload the page and try again."
                )
        return viewer

    return dependency


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request) -> None:
    """A state-changing request must come from a page of this site."""
    settings: Settings = request.app.state.settings
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return  # old clients send neither; the synchronizer token still has to match
    own = {_origin(settings.public_url), _origin(str(request.base_url))}
    if _origin(sent) not in own:
        raise AdminForbidden("This request came from another site and was refused.")


async def read_form(
    request: Request, *, max_bytes: int | None = None
) -> tuple[dict[str, str], UploadFile | None]:
    """The form's text fields (first value each) and its one uploaded file, if any."""
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    cap = max_bytes or (UPLOAD_BYTES if multipart else FORM_BYTES)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise BadForm(f"The form is larger than {cap // 1024:,} KB.", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise BadForm(f"The form is larger than {cap // 1024:,} KB.", status=413)
    if not multipart and not body.isascii():  # browsers percent-encode every other byte
        raise BadForm("The form is not valid URL-encoded text.")
    request._body = bytes(body)  # the parser reads the cached body
    try:
        form = await request.form(max_files=1, max_fields=50, max_part_size=cap)
    except UnicodeDecodeError:
        raise BadForm("The form is not valid UTF-8 text.") from None
    except Exception as exc:  # malformed multipart and the like
        raise BadForm(f"The form cannot be read ({type(exc).__name__}).") from None
    fields: dict[str, str] = {}
    upload: UploadFile | None = None
    for name, value in form.multi_items():
        if isinstance(value, str):
            if "\x00" in value or "\ufffd" in value:
                raise BadForm(
                    f"The field {name[:40]!r} contains characters that are not text "
                    "(a NUL or invalid UTF-8)."
                )
            fields.setdefault(name, value)
        elif upload is None:
            upload = value
    return fields, upload


# --- the login form's CSRF token (before any session exists) ---------------------------------


def login_token(settings: Settings) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_mac(settings, nonce)}"


def login_token_valid(settings: Settings, cookie: str | None, field_value: str | None) -> bool:
    if not cookie or not field_value or not same_token(field_value, cookie):
        return False
    nonce, _, mac = cookie.partition(".")
    return bool(nonce) and same_token(mac, _mac(settings, nonce))


def _mac(settings: Settings, nonce: str) -> str:
    key = settings.signing_keys["a"].encode()
    return hmac.new(key, b"admin-login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


# --- security headers ---------------------------------------------------------------------------

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)


class AdminHeaders:
    """Adds the admin's security headers to every response under /admin (pure ASGI: no
    per-request task or body buffering)."""

    def __init__(self, app: ASGIApp, *, hsts: bool):
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"x-robots-tag", b"noindex, nofollow"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/admin"):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/admin/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [h for h in self.headers if h[0] not in present]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
