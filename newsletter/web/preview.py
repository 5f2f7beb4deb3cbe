"""Local preview server: the email at desktop and phone width, and its text part.

Re-renders on every page load, so edits to the article or templates show on reload.

The email is shown in frames that run no script: `sandbox="allow-same-origin"` without
`allow-scripts`, and the email itself is served with a Content-Security-Policy that blocks
scripts, plugins, forms and framing by anyone else. The frames are as tall as their content
(no scrolling inside a frame hides the button or the footer): the page's own script, allowed
by a per-response nonce, measures each frame's document once it has loaded (same origin,
which `allow-same-origin` permits). The page stacks on a phone (no sideways scrolling at
375 px).

The preview's own links (click, unsubscribe, preferences, open: tokens of purpose `preview`)
open a page saying they are previews, as in the web app (`web.link_pages`); anything else
gets the same branded 404 page as the web app.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.config import Settings, load_settings
from newsletter.engagement.link_tokens import resolve
from newsletter.errors import NewsletterError
from newsletter.services.previews import Preview
from newsletter.tokens import Purpose
from newsletter.web.link_pages import preview_page, test_page
from newsletter.web.public import not_found, page

#: For the email inside a frame: no script at all, images and styles from anywhere (an email
#: loads its logo and fonts over https), nothing submitted, framed only by this page.
EMAIL_CSP = (
    "default-src 'none'; script-src 'none'; object-src 'none'; "
    "img-src https: http: data:; style-src 'unsafe-inline' https:; font-src https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
FRAME_SANDBOX = "allow-same-origin"  # never allow-scripts: with both, a script could unsandbox

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {subject}</title>
<style>
*, *::before, *::after {{ box-sizing: border-box; }}
body {{ font-family: system-ui, sans-serif; margin: 0; padding: 16px; background: #eceff1;
       color: #1f2933; }}
header {{ margin-bottom: 12px; overflow-wrap: anywhere; }} header p {{ margin: 2px 0; }}
.frames {{ display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }}
figure {{ margin: 0; min-width: 0; max-width: 100%; }}
figure.desktop {{ flex: 0 1 600px; }} figure.mobile {{ flex: 0 1 375px; }}
figure.text {{ flex: 1 1 320px; }}
figcaption {{ font-size: 13px; margin-bottom: 4px; color: #52606d; }}
iframe {{ display: block; width: 100%; height: 600px; border: 1px solid #cbd2d9;
         background: #fff; }}
pre {{ white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; margin: 0;
      border: 1px solid #cbd2d9; padding: 12px; font-size: 13px; }}
.fail {{ color: #b42318; }} .warn {{ color: #b54708; }}
@media (max-width: 640px) {{ body {{ padding: 8px; }} .frames {{ display: block; }}
  figure {{ margin-bottom: 16px; }} }}
</style></head><body>
<header><p><strong>Subject:</strong> {subject}</p><p><strong>Preheader:</strong> {preheader}</p>
<p><strong>From:</strong> {sender} · <strong>To:</strong> {to}</p>{problems}</header>
<div class="frames">
<figure class="desktop"><figcaption>Desktop · up to 600 px</figcaption>
<iframe id="desktop" src="/email.html" title="Desktop preview" sandbox="{sandbox}"
 scrolling="no"></iframe></figure>
<figure class="mobile"><figcaption>Mobile · 375 px</figcaption>
<iframe id="mobile" src="/email.html" title="Mobile preview" sandbox="{sandbox}"
 scrolling="no"></iframe></figure>
<figure class="text"><figcaption>Text part</figcaption><pre id="text">{text}</pre></figure>
</div>
<script nonce="{nonce}">
(function () {{
  function fit(frame) {{
    var doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    frame.style.height = "0px";
    var height = Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0);
    frame.style.height = (height + 2) + "px";
    frame.dataset.fitted = "1";
  }}
  document.querySelectorAll("iframe").forEach(function (frame) {{
    frame.addEventListener("load", function () {{ fit(frame); }});
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit(frame);
  }});
  var pending;
  window.addEventListener("resize", function () {{
    clearTimeout(pending);
    pending = setTimeout(function () {{ document.querySelectorAll("iframe").forEach(fit); }}, 100);
  }});
}})();
</script></body></html>"""


def _page_csp(nonce: str) -> str:
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "frame-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def create_preview_app(render: Callable[[], Preview], settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from newsletter.rendering.isolated import WORKER

        await run_in_threadpool(WORKER.ensure_started)  # the first page is not the slow one
        yield

    app = FastAPI(
        title="Email preview", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
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
        nonce = secrets.token_urlsafe(16)
        headers = {"Content-Security-Policy": _page_csp(nonce), "Cache-Control": "no-store"}
        if isinstance(result, str):
            return HTMLResponse(f"<pre class='fail'>{escape(result)}</pre>", status_code=422,
                                headers=headers)  # fmt: skip
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
                sandbox=FRAME_SANDBOX,
                nonce=nonce,
            ),
            headers=headers,
        )

    @app.get("/email.html", response_class=HTMLResponse)
    def email_html() -> HTMLResponse:
        result = safe_render()
        headers = {"Content-Security-Policy": EMAIL_CSP, "Cache-Control": "no-store",
                   "X-Content-Type-Options": "nosniff"}  # fmt: skip
        if isinstance(result, str):
            return HTMLResponse(f"<pre>{escape(result)}</pre>", status_code=422, headers=headers)
        return HTMLResponse(result.email.html, headers=headers)

    @app.get("/email.txt", response_class=PlainTextResponse)
    def email_text() -> PlainTextResponse:
        result = safe_render()
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        if isinstance(result, str):
            return PlainTextResponse(result, status_code=422, headers=headers)
        return PlainTextResponse(result.email.text, headers=headers)

    return app


def _answer_email_links(app: FastAPI, render: Callable[[], Preview], settings: Settings) -> None:
    """The links inside the previewed email (they point at the public URL, which is this
    server in the demo) and the branded 404 page."""

    def answer(purpose: Purpose, what: str, token: str, link_key: str | None = None) -> Response:
        target = resolve(purpose, token, settings.signing_keys)
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
