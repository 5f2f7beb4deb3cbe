"""Local preview server: the email in a 600 px and a 375 px frame, and its text part.

Re-renders on every page load, so edits to the article or templates show on reload. The
preview's own links (click, unsubscribe, preferences, open: tokens of purpose `preview`)
open a page saying they are previews, as in the web app (`web.link_pages`); anything else
gets the same branded 404 page as the web app.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.config import Settings, load_settings
from newsletter.engagement.link_tokens import resolve
from newsletter.errors import NewsletterError
from newsletter.services.previews import Preview
from newsletter.web.link_pages import preview_page, test_page
from newsletter.web.public import not_found, page

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Preview: {subject}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; background: #eceff1; color: #1f2933; }}
header {{ margin-bottom: 12px; }} header p {{ margin: 2px 0; }}
.frames {{ display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }}
figure {{ margin: 0; }} figcaption {{ font-size: 13px; margin-bottom: 4px; color: #52606d; }}
iframe {{ border: 1px solid #cbd2d9; background: #fff; height: 1400px; }}
#desktop {{ width: 600px; }} #mobile {{ width: 375px; }}
pre {{ width: 560px; white-space: pre-wrap; background: #fff; border: 1px solid #cbd2d9;
       padding: 12px; margin: 0; font-size: 13px; max-height: 1400px; overflow: auto; }}
.fail {{ color: #b42318; }} .warn {{ color: #b54708; }}
</style></head><body>
<header><p><strong>Subject:</strong> {subject}</p><p><strong>Preheader:</strong> {preheader}</p>
<p><strong>From:</strong> {sender} · <strong>To:</strong> {to}</p>{problems}</header>
<div class="frames">
<figure><figcaption>Desktop · 600 px</figcaption>
<iframe id="desktop" src="/email.html" title="Desktop preview"></iframe></figure>
<figure><figcaption>Mobile · 375 px</figcaption>
<iframe id="mobile" src="/email.html" title="Mobile preview"></iframe></figure>
<figure><figcaption>Text part</figcaption><pre id="text">{text}</pre></figure>
</div></body></html>"""


def create_preview_app(render: Callable[[], Preview], settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Email preview", docs_url=None, redoc_url=None, openapi_url=None)
    settings = settings or load_settings()
    _answer_email_links(app, render, settings)

    def safe_render() -> Preview | str:
        try:
            return render()
        except NewsletterError as error:
            return str(error)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        result = safe_render()
        if isinstance(result, str):
            return HTMLResponse(f"<pre class='fail'>{escape(result)}</pre>", status_code=422)
        problems = "".join(
            f"<p class='{c.status}'>{escape(c.name)}: {escape(c.detail)}</p>"
            for c in result.checks
            if c.status != "ok"
        )
        return HTMLResponse(
            _PAGE.format(
                subject=escape(result.email.subject),
                preheader=escape(result.email.preheader),
                sender=escape(result.email.sender),
                to=escape(result.to),
                problems=problems,
                text=escape(result.email.text),
            )
        )

    @app.get("/email.html", response_class=HTMLResponse)
    def email_html() -> HTMLResponse:
        result = safe_render()
        if isinstance(result, str):
            return HTMLResponse(f"<pre>{escape(result)}</pre>", status_code=422)
        return HTMLResponse(result.email.html)

    @app.get("/email.txt", response_class=PlainTextResponse)
    def email_text() -> PlainTextResponse:
        result = safe_render()
        if isinstance(result, str):
            return PlainTextResponse(result, status_code=422)
        return PlainTextResponse(result.email.text)

    return app


def _answer_email_links(app: FastAPI, render: Callable[[], Preview], settings: Settings) -> None:
    """The links inside the previewed email (they point at the public URL, which is this
    server in the demo) and the branded 404 page."""

    def answer(purpose: str, what: str, token: str, link_key: str | None = None) -> Response:
        target = resolve(purpose, token, settings.signing_keys)  # type: ignore[arg-type]
        if target is None:
            return not_found(settings)
        if target.kind == "test":
            return test_page(settings, what)
        if target.kind == "delivery":  # a sent email's link: the web app answers it
            return page(settings, "Open this link on the web app",
                        "This link comes from a sent email; the preview server does not follow "
                        "it. `newsletter serve` does.", status_code=404)  # fmt: skip
        destination = None
        if link_key is not None:
            try:
                links = render().compiled.links
            except NewsletterError:
                links = ()
            destination = next((x.url for x in links if x.id == link_key), None)
        return preview_page(settings, what, destination)

    @app.api_route("/r/{link_key}/{token}", methods=["GET", "HEAD"])
    def click(link_key: str, token: str) -> Response:
        return answer("click", "click", token, link_key)

    @app.api_route("/o/{token}", methods=["GET", "HEAD"])
    def open_pixel(token: str) -> Response:
        return answer("click", "open", token)

    @app.api_route("/u/{token}", methods=["GET", "HEAD", "POST"])
    def unsubscribe(token: str) -> Response:
        return answer("unsubscribe", "unsubscribe", token)

    @app.api_route("/p/{token}", methods=["GET", "HEAD", "POST"])
    def preferences(token: str) -> Response:
        return answer("preferences", "preferences", token)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            return not_found(settings)
        return page(settings, "Sorry", "This request cannot be handled.",
                    status_code=error.status_code)  # fmt: skip


def serve_preview(render: Callable[[], Preview], *, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_preview_app(render), host=host, port=port, log_level="warning")
