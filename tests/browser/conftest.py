"""Chromium for the browser tests: Debian's /usr/bin/chromium, launched once.

`browser` is session-scoped. Chromium starts on first use and is closed right after the last
test that uses it (not at the very end of the session): Playwright's sync API leaves its
asyncio loop marked as running on the main thread while it is open, so any later test
calling `asyncio.run()` (or another sync Playwright) would fail with "cannot be called from
a running event loop". Should a browser test come again later (another test order), it is
relaunched.

Pages never touch the network: every image request is answered with a local PNG and every
other request is aborted, so the seed's hero image (on mindstream.example) needs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT_HEIGHT = 667  # an iPhone SE / 8 screen; widths are chosen per test


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 140, 160)).save(buffer, "PNG")
    return buffer.getvalue()


# The widest image the templates declare is 600 px (the article's hero image).
IMAGE = _png(600, 300)


class SharedChromium:
    """A Playwright `Browser` stand-in that launches Chromium on first use, once."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    def __getattr__(self, name: str) -> Any:  # new_context, new_page, version, …
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
        return getattr(self._browser, name)

    def close(self) -> None:
        if self._browser is not None:
            browser, playwright = self._browser, self._playwright
            self._browser = self._playwright = None
            try:
                browser.close()
            finally:
                playwright.stop()


_SHARED = SharedChromium()


@pytest.fixture(scope="session")
def browser() -> Iterator[SharedChromium]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium); "
            "Playwright cannot download its own browser here",
            pytrace=False,
        )
    yield _SHARED
    _SHARED.close()


@pytest.hookimpl(trylast=True)  # after the function-scoped fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or "browser" not in getattr(nextitem, "fixturenames", ()):
        _SHARED.close()


def _offline(route: Any) -> None:
    if route.request.resource_type == "image":
        route.fulfill(status=200, content_type="image/png", body=IMAGE)
    else:
        route.abort()


@pytest.fixture
def open_email(browser: SharedChromium) -> Iterator[Callable[..., Any]]:
    """open_email(html, width) → a Playwright page showing that HTML at that viewport width."""
    contexts: list[Any] = []

    def open_(html: str, width: int, height: int = VIEWPORT_HEIGHT) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1
        )
        contexts.append(context)
        context.route("**/*", _offline)
        page = context.new_page()
        page.set_content(html, wait_until="load")
        return page

    yield open_
    for context in contexts:
        context.close()
