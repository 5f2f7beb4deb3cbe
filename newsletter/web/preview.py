"""Local preview server: the email in a 600 px and a 375 px frame, and its text part.

Re-renders on every page load, so edits to the article or templates show on reload.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse

from newsletter.errors import NewsletterError
from newsletter.services.previews import Preview

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


def create_preview_app(render: Callable[[], Preview]) -> FastAPI:
    app = FastAPI(title="Email preview", docs_url=None, redoc_url=None, openapi_url=None)

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


def serve_preview(render: Callable[[], Preview], *, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_preview_app(render), host=host, port=port, log_level="warning")
