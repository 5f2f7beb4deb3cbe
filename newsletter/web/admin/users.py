"""`/admin/users` (admins only): every account with its role, second factor and lock; create
an account, change a role, disable or enable, reset a password, lift a lock. Each action is
the same service call as `newsletter users …` and lands in the audit log with who did it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts import service
from newsletter.accounts.roles import Action, Role
from newsletter.errors import NewsletterError, NotFound
from newsletter.storage import account_store
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
MANAGE = Depends(require(Action.USERS_MANAGE))
NOTICES = {
    "created": "The account is created.",
    "role": "The role is changed; the person's sessions have ended.",
    "disabled": "The account is disabled; its sessions have ended.",
    "enabled": "The account is enabled.",
    "password": "The password is reset; the person's sessions have ended.",
    "unlocked": "The account is unlocked.",
}


def _page(request: Request, viewer: Viewer, *, error: str | None = None) -> Response:
    db = request.app.state.db
    rows = service.list_users(db)
    locked = service.lock_state(db, [r.email for r in rows], now_of(request.app))
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(
        request,
        "users.html",
        viewer=viewer,
        users=rows,
        locked=locked,
        roles=[r.value for r in Role],
        error=error,
        notice=notice,
        status_code=400 if error else 200,
    )


@router.get("/admin/users")
async def users_page(request: Request, viewer: Viewer = MANAGE) -> Response:
    return await run_in_threadpool(_page, request, viewer)


async def _act(request: Request, viewer: Viewer, done: str, call: Callable[[], Any]) -> Response:
    try:
        await run_in_threadpool(call)
    except NewsletterError as error:
        return await run_in_threadpool(_page, request, viewer, error=describe(error))
    return RedirectResponse(f"/admin/users?done={done}", status_code=303)


def _email_of(request: Request, user_id: int) -> str:
    with request.app.state.db.read() as conn:
        row = account_store.user_by_id(conn, user_id)
    if row is None:
        raise NewsletterError(f"no account {user_id}")
    return str(row.email)


@router.post("/admin/users")
async def create(request: Request, viewer: Viewer = MANAGE) -> Response:
    form = viewer.form
    return await _act(
        request,
        viewer,
        "created",
        lambda: service.create_user(
            request.app.state.db,
            form.get("email", ""),
            form.get("role", ""),
            form.get("password", ""),
            actor=viewer.actor.audit_name,
            now=now_of(request.app),
        ),
    )


# One account change each: (notice key, the service call with the form's values).
CHANGES: dict[str, tuple[str, Callable[..., Any]]] = {
    "role": ("role", lambda db, email, form, **who: service.set_role(
        db, email, form.get("role", ""), **who)),
    "disable": ("disabled", lambda db, email, form, **who: service.set_disabled(
        db, email, True, **who)),
    "enable": ("enabled", lambda db, email, form, **who: service.set_disabled(
        db, email, False, **who)),
    "password": ("password", lambda db, email, form, **who: service.reset_password(
        db, email, form.get("password", ""), **who)),
    "unlock": ("unlocked", lambda db, email, form, **who: service.unlock(db, email, **who)),
}  # fmt: skip


@router.post("/admin/users/{user_id}/{change}")
async def change_user(
    request: Request, user_id: int, change: str, viewer: Viewer = MANAGE
) -> Response:
    """Change a role, disable, enable, reset a password, or unlock."""
    if change not in CHANGES:
        raise NotFound(f"no such change: {change[:40]!r}")
    done, call = CHANGES[change]
    who = {"actor": viewer.actor.audit_name, "now": now_of(request.app)}
    return await _act(request, viewer, done, lambda: call(
        request.app.state.db, _email_of(request, user_id), viewer.form, **who))  # fmt: skip
