"""Signing in and out: `/admin/login` (password), `/admin/login/2fa` (an admin's TOTP or
recovery code), `/admin/enrol` (an admin's first TOTP set-up: QR code drawn on the server,
recovery codes shown once), `/admin/logout`, and `/admin/account` (own password)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts import login as auth
from newsletter.accounts import totp
from newsletter.accounts.roles import Action
from newsletter.accounts.sessions import Stage
from newsletter.errors import NewsletterError
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import (
    LOGIN_CSRF_COOKIE,
    STAGE_PAGES,
    AdminForbidden,
    Viewer,
    check_origin,
    clear_session_cookie,
    client_ip,
    current_session,
    https,
    login_token,
    login_token_valid,
    read_form,
    require,
    set_session_cookie,
)
from newsletter.web.public import now_of

router = APIRouter()
ANY_STAGE = (Stage.MFA, Stage.ENROL, Stage.FULL)


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _next_page(stage: Stage) -> str:
    return STAGE_PAGES[stage]


def _login_page(
    request: Request, *, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    settings = request.app.state.settings
    token = login_token(settings)
    response = render(
        request,
        "login.html",
        login_csrf=token,
        email=email[:254],
        error=error,
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=https(settings),
        samesite="strict",
        path="/admin/login",
        max_age=3600,
    )
    return response


@router.get("/admin/login")
async def login_page(request: Request) -> Response:
    session = await current_session(request)
    if session is not None:
        return _see_other(_next_page(session.stage))
    return _login_page(request)


@router.post("/admin/login")
async def login(request: Request) -> Response:
    settings = request.app.state.settings
    check_origin(request)
    form, _ = await read_form(request)
    if not login_token_valid(
        settings, request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token")
    ):
        raise AdminForbidden("The sign-in form expired. Reload the page and try again.")
    email = form.get("email", "")
    try:
        session_id, stage = await run_in_threadpool(
            auth.sign_in,
            request.app.state.db,
            email=email,
            password=form.get("password", ""),
            address=client_ip(request),
            now=now_of(request.app),
        )
    except auth.LoginRefused as refused:
        status = 429 if refused.retry_after_s else 400
        response = _login_page(request, email=email, error=refused.message, status_code=status)
        if refused.retry_after_s:
            response.headers["Retry-After"] = str(refused.retry_after_s)
        return response
    old = await current_session(request)  # a session cookie sent along is never reused
    if old is not None:
        await run_in_threadpool(auth.sign_out, request.app.state.db, old, now=now_of(request.app))
    response = _see_other(_next_page(stage))
    set_session_cookie(response, settings, session_id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
    return response


@router.get("/admin/login/2fa")
async def mfa_page(
    request: Request, viewer: Viewer = Depends(require(None, stages=(Stage.MFA,)))
) -> Response:
    return render(request, "mfa.html", viewer=viewer)


@router.post("/admin/login/2fa")
async def mfa(
    request: Request, viewer: Viewer = Depends(require(None, stages=(Stage.MFA,)))
) -> Response:
    try:
        session_id = await run_in_threadpool(
            auth.second_factor,
            request.app.state.db,
            viewer.session,
            viewer.form.get("code", ""),
            address=client_ip(request),
            now=now_of(request.app),
        )
    except auth.LoginRefused as refused:
        return render(
            request,
            "mfa.html",
            viewer=viewer,
            error=refused.message,
            status_code=429 if refused.retry_after_s else 400,
        )
    response = _see_other("/admin/campaigns")
    set_session_cookie(response, request.app.state.settings, session_id)
    return response


def _enrol_page(
    request: Request, viewer: Viewer, secret: str, error: str | None = None
) -> Response:
    settings = request.app.state.settings
    uri = totp.provisioning_uri(secret, account=viewer.session.email, issuer=settings.clinic_name)
    return render(
        request,
        "enrol.html",
        viewer=viewer,
        secret=secret,
        qr_svg=totp.qr_svg(uri),
        error=error,
        status_code=400 if error else 200,
    )


@router.get("/admin/enrol")
async def enrol_page(
    request: Request, viewer: Viewer = Depends(require(None, stages=(Stage.ENROL,)))
) -> Response:
    secret = await run_in_threadpool(auth.enrolment_secret, request.app.state.db, viewer.session)
    return _enrol_page(request, viewer, secret)


@router.post("/admin/enrol")
async def enrol(
    request: Request, viewer: Viewer = Depends(require(None, stages=(Stage.ENROL,)))
) -> Response:
    try:
        session_id, codes = await run_in_threadpool(
            auth.finish_enrolment,
            request.app.state.db,
            viewer.session,
            viewer.form.get("code", ""),
            now=now_of(request.app),
        )
    except auth.LoginRefused as refused:
        secret = viewer.session.pending_totp_secret or ""
        return _enrol_page(request, viewer, secret, refused.message)
    response = render(request, "recovery_codes.html", viewer=None, codes=codes)
    set_session_cookie(response, request.app.state.settings, session_id)
    return response


@router.get("/admin/logout")
async def logout_page(
    request: Request, viewer: Viewer = Depends(require(None, stages=ANY_STAGE))
) -> Response:
    return render(request, "logout.html", viewer=viewer)


@router.post("/admin/logout")
async def logout(
    request: Request, viewer: Viewer = Depends(require(None, stages=ANY_STAGE))
) -> Response:
    await run_in_threadpool(
        auth.sign_out, request.app.state.db, viewer.session, now=now_of(request.app)
    )
    response = _see_other("/admin/login")
    clear_session_cookie(response, request.app.state.settings)
    return response


@router.get("/admin/account")
async def account(
    request: Request, viewer: Viewer = Depends(require(Action.ACCOUNT_SELF))
) -> Response:
    done = request.query_params.get("done") == "password"
    notice = "Your password is changed; your other sessions have ended." if done else None
    return render(request, "account.html", viewer=viewer, notice=notice)


@router.post("/admin/account/password")
async def change_password(
    request: Request, viewer: Viewer = Depends(require(Action.ACCOUNT_SELF))
) -> Response:
    try:
        session_id = await run_in_threadpool(
            auth.change_password,
            request.app.state.db,
            viewer.session,
            viewer.form.get("current", ""),
            viewer.form.get("new", ""),
            now=now_of(request.app),
        )
    except NewsletterError as error:
        return render(
            request, "account.html", viewer=viewer, error=describe(error), status_code=400
        )
    response = _see_other("/admin/account?done=password")
    set_session_cookie(response, request.app.state.settings, session_id)
    return response
