"""`newsletter preview` in Chromium (issues #13 and #14 item 7): frames as tall as the email
(the button and the footer visible without scrolling inside a frame), a page that stacks on a
phone without sideways scrolling, and frames that run no script."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from newsletter.config import load_settings
from newsletter.services.previews import preview_articles
from newsletter.web.preview import create_preview_app
from tests.browser.conftest import IMAGE
from tests.seed import REPO, SEED_TEXT

pytestmark = pytest.mark.browser

PHONE, DESKTOP = 375, 1280
BUTTON = "Book a consultation"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def preview_url() -> Iterator[str]:
    app = create_preview_app(  # settings read per render, as `newsletter preview` does
        lambda: preview_articles([SEED_TEXT], load_settings(), today=dt.date(2026, 12, 1))
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the preview server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def open_preview(browser: Any, preview_url: str) -> Iterator[Any]:
    contexts: list[Any] = []

    def route(request_route: Any) -> None:
        request = request_route.request
        if request.url.startswith(preview_url):
            request_route.continue_()
        elif request.resource_type == "image":
            request_route.fulfill(status=200, content_type="image/png", body=IMAGE)
        else:
            request_route.abort()

    def open_(width: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 667})
        contexts.append(context)
        context.route("**/*", route)
        page = context.new_page()
        page.goto(preview_url + "/", wait_until="load")
        page.wait_for_function(
            "[...document.querySelectorAll('iframe')].every(f => f.dataset.fitted === '1')",
            timeout=15_000,
        )
        return page

    yield open_
    for context in contexts:
        context.close()


_FRAMES = """() => [...document.querySelectorAll('iframe')].map((frame) => {
  const doc = frame.contentDocument;
  const button = [...doc.querySelectorAll('a')].find((a) => a.textContent.includes('BUTTON'));
  const box = button.getBoundingClientRect();
  const footer = [...doc.querySelectorAll('div, p, td')].filter(
    (el) => el.textContent.includes('Walnut Street')).pop().getBoundingClientRect();
  return {
    id: frame.id, sandbox: frame.getAttribute('sandbox'),
    frameHeight: frame.clientHeight, frameWidth: frame.clientWidth,
    contentHeight: doc.documentElement.scrollHeight,
    contentWidth: doc.documentElement.scrollWidth,
    buttonBottom: box.bottom, buttonVisible: box.width > 0 && box.height > 0,
    footerBottom: footer.bottom,
  };
})""".replace("BUTTON", BUTTON)


def _check_frames(page: Any) -> list[dict[str, Any]]:
    frames = page.evaluate(_FRAMES)
    assert [f["id"] for f in frames] == ["desktop", "mobile"]
    for frame in frames:
        assert frame["sandbox"] == "allow-same-origin", frame  # no allow-scripts
        assert frame["contentHeight"] <= frame["frameHeight"] + 1, f"scrolls inside: {frame}"
        assert frame["contentWidth"] <= frame["frameWidth"] + 1, f"scrolls sideways: {frame}"
        assert frame["buttonVisible"] and frame["buttonBottom"] <= frame["frameHeight"], frame
        assert frame["footerBottom"] <= frame["frameHeight"], frame
    return frames


def test_preview_on_a_phone_stacks_without_sideways_scrolling(open_preview):
    page = open_preview(PHONE)
    widths = page.evaluate("""() => ({
        scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
        client: document.documentElement.clientWidth})""")
    assert widths["scroll"] <= widths["client"], widths
    frames = _check_frames(page)
    boxes = page.evaluate("""() => [...document.querySelectorAll('figure')]
        .map((f) => f.getBoundingClientRect()).map((r) => ({top: r.top, left: r.left}))""")
    assert boxes[0]["top"] < boxes[1]["top"] < boxes[2]["top"]  # stacked, one per row
    assert all(f["frameWidth"] <= PHONE for f in frames)


def test_preview_on_a_desktop_shows_frames_side_by_side_fitted(open_preview):
    page = open_preview(DESKTOP)
    frames = _check_frames(page)
    desktop, mobile = frames
    assert desktop["frameWidth"] >= 598 and 370 <= mobile["frameWidth"] <= 377
    assert mobile["contentHeight"] > desktop["contentHeight"]  # the narrow email is taller


def test_the_email_is_served_with_a_csp_that_blocks_scripts(preview_url):
    answer = httpx.get(preview_url + "/email.html")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    page = httpx.get(preview_url + "/")
    nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text
    assert page.text.count("<script") == 1


def test_a_script_in_the_template_does_not_run_in_the_preview(open_preview, tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    source = (folder / "article.mjml").read_text()
    marker = "{% block content %}"
    injected = ("<mj-raw><script>document.documentElement.dataset.ran = 'yes';</script>"
                '<img src="https://x.example/p.png" alt="" onload="document.title=\'pwned\'">'
                "</mj-raw>")  # fmt: skip
    (folder / "article.mjml").write_text(source.replace(marker, marker + injected, 1))
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(folder))
    page = open_preview(PHONE)
    ran = page.evaluate("""() => [...document.querySelectorAll('iframe')].map((f) =>
        [f.contentDocument.documentElement.dataset.ran || '', f.contentDocument.title])""")
    assert all(flag == "" and title != "pwned" for flag, title in ran), ran
    assert page.title().startswith("Preview:")
    assert page.locator("p.fail").filter(has_text="No scripts").count() == 1
