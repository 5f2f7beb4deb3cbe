"""`/admin/articles`: the article library. Everyone signed in can read it; marketers and
admins add articles (upload a .txt/.md/.html file, paste text or Markdown, or give a URL the
server fetches), re-import and archive them. Every action goes through
`services.article_library`, the same as `newsletter articles …`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.accounts.roles import Action
from newsletter.errors import NewsletterError, NotFound
from newsletter.services import article_library as library
from newsletter.web.admin.pages import describe, render
from newsletter.web.admin.security import UPLOAD_BYTES, BadForm, Viewer, require
from newsletter.web.public import now_of

router = APIRouter()
VIEW = Depends(require(Action.ARTICLES_VIEW))
EDIT = Depends(require(Action.ARTICLES_EDIT))
PASTE_FORMATS = ["auto", "markdown", "text", "html"]
NOTICES = {
    "reimported": "The article is imported again.",
    "archived": "The article is archived.",
    "restored": "The article is back in the library.",
}


def _list(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    archived = request.query_params.get("archived") == "1"
    rows = library.list_articles(request.app.state.db, archived=archived)
    return render(
        request,
        "articles.html",
        viewer=viewer,
        articles=rows,
        archived=archived,
        warnings_of=library.warnings_of,
        formats=PASTE_FORMATS,
        form=form or {},
        error=error,
        status_code=400 if error else 200,
    )


@router.get("/admin/articles")
async def articles_page(request: Request, viewer: Viewer = VIEW) -> Response:
    return await run_in_threadpool(_list, request, viewer)


async def _add(request: Request, viewer: Viewer, call: Any) -> Response:
    try:
        article_id = await run_in_threadpool(call)
    except NewsletterError as error:
        return await run_in_threadpool(
            _list, request, viewer, error=describe(error), form=viewer.form
        )
    return RedirectResponse(f"/admin/articles/{article_id}?done=added", status_code=303)


def _who(viewer: Viewer) -> dict[str, Any]:
    return {"actor": viewer.actor.audit_name, "user_id": viewer.session.user_id}


@router.post("/admin/articles/upload")
async def upload(request: Request, viewer: Viewer = EDIT) -> Response:
    if viewer.upload is None:
        raise BadForm("Choose a file to upload.")
    data = await viewer.upload.read(UPLOAD_BYTES + 1)
    name = viewer.upload.filename or ""
    return await _add(
        request,
        viewer,
        lambda: library.add_upload(
            request.app.state.db,
            data,
            name,
            site_url=request.app.state.settings.website_url,
            now=now_of(request.app),
            **_who(viewer),
        ),
    )


@router.post("/admin/articles/paste")
async def paste(request: Request, viewer: Viewer = EDIT) -> Response:
    text, kind = viewer.form.get("text", ""), viewer.form.get("format", "auto")
    return await _add(
        request,
        viewer,
        lambda: library.add_paste(
            request.app.state.db,
            text,
            kind=kind,
            site_url=request.app.state.settings.website_url,
            now=now_of(request.app),
            **_who(viewer),
        ),
    )


@router.post("/admin/articles/url")
async def from_url(request: Request, viewer: Viewer = EDIT) -> Response:
    url = viewer.form.get("url", "")
    return await _add(
        request,
        viewer,
        lambda: library.add_url(
            request.app.state.db,
            request.app.state.settings,
            url,
            now=now_of(request.app),
            **_who(viewer),
        ),
    )


def _article(
    request: Request, viewer: Viewer, article_id: int, error: str | None = None
) -> Response:
    row = library.get_article(request.app.state.db, article_id)
    try:
        article, problem = (
            library.parsed(row, site_url=request.app.state.settings.website_url),
            None,
        )
    except NewsletterError as exc:  # an importer change that no longer reads it
        article, problem = None, describe(exc)
    notice = NOTICES.get(request.query_params.get("done", ""))
    if request.query_params.get("done") == "added":
        notice = "The article is in the library."
    return render(
        request,
        "article.html",
        viewer=viewer,
        row=row,
        article=article,
        warnings=library.warnings_of(row),
        error=error or problem,
        notice=notice,
        status_code=400 if error else 200,
    )


@router.get("/admin/articles/{article_id}")
async def article_page(request: Request, article_id: int, viewer: Viewer = VIEW) -> Response:
    return await run_in_threadpool(_article, request, viewer, article_id)


async def _change(
    request: Request, viewer: Viewer, article_id: int, done: str, call: Any
) -> Response:
    try:
        await run_in_threadpool(call)
    except NewsletterError as error:
        return await run_in_threadpool(_article, request, viewer, article_id, describe(error))
    return RedirectResponse(f"/admin/articles/{article_id}?done={done}", status_code=303)


CHANGES: dict[str, tuple[str, Callable[..., Any]]] = {
    "reimport": ("reimported", lambda db, settings, article_id, **who: library.reimport(
        db, settings, article_id, **who)),
    "archive": ("archived", lambda db, settings, article_id, **who: library.set_archived(
        db, article_id, True, **who)),
    "restore": ("restored", lambda db, settings, article_id, **who: library.set_archived(
        db, article_id, False, **who)),
}  # fmt: skip


@router.post("/admin/articles/{article_id}/{change}")
async def change_article(
    request: Request, article_id: int, change: str, viewer: Viewer = EDIT
) -> Response:
    """Re-import, archive or restore."""
    if change not in CHANGES:
        raise NotFound(f"no such change: {change[:40]!r}")
    done, call = CHANGES[change]
    who = {"actor": viewer.actor.audit_name, "now": now_of(request.app)}
    state = request.app.state
    return await _change(request, viewer, article_id, done,
                         lambda: call(state.db, state.settings, article_id, **who))  # fmt: skip
