"""The README's first command, used as a new user would, in Debian's Chromium: `newsletter
demo` runs as a real process (web app, engine, SendGrid emulator); the marketer signs in
with the printed password, previews the draft for a sample subscriber at 600 and 375 px and
submits it; the admin signs in (password, then the code of the printed key) and approves
it; the campaign is sent, live progress reaches 100 % and the stats page shows the
emulator's deliveries. Screenshots are kept in the test's tmp_path; nothing but images in
the email (answered locally) is asked of another host than 127.0.0.1."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pyotp
import pytest

from tests.browser.conftest import IMAGE
from tests.cli.demo_process import DemoProcess
from tests.cli.test_demo import all_gone, sample_addresses, wait_for

pytestmark = pytest.mark.browser

DESKTOP, MOBILE = 1280, 375


class Person:
    """One person's browser context: only the demo's own web app is reachable."""

    def __init__(self, browser, base: str, width: int, shots: Path, name: str):  # type: ignore[no-untyped-def]
        self.base, self.shots, self.name = base, shots, name
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.elsewhere: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def _route(self, route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(self.base):
            route.continue_()
        elif route.request.resource_type == "image":  # the email's hero image, on the clinic site
            route.fulfill(status=200, content_type="image/png", body=IMAGE)
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, label: str) -> Path:
        path = self.shots / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, email: str, password: str) -> None:
        self.goto("/admin/login")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("form[action='/admin/login'] button[type=submit]")

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], self.elsewhere


@pytest.mark.timeout(900)
def test_the_demo_workflow_in_chromium(browser, tmp_path):
    workdir = tmp_path / "clinic"
    workdir.mkdir()
    demo = DemoProcess.start(workdir)
    try:
        banner = demo.wait_ready()
        children = demo.children()
        campaign = f"/admin/campaigns/{banner.campaign_id}"

        marketer = Person(browser, banner.url, DESKTOP, tmp_path, "marketer")
        marketer.sign_in("marketer@demo.example", banner.passwords["marketer"])
        marketer.page.wait_for_url("**/admin/campaigns")
        marketer.page.click(f"a[href='{campaign}']")
        marketer.page.wait_for_url(f"**{campaign}")
        assert marketer.page.inner_text("#campaign-status") == "draft"
        marketer.shot("draft")
        marketer.page.click("#preview-link")
        marketer.page.wait_for_url(f"**{campaign}/preview")
        marketer.page.fill("#q", "ada.lovelace")  # HTMX searches as one types
        marketer.page.wait_for_selector("a.pick-subscriber")
        marketer.page.click("a.pick-subscriber >> nth=0")
        marketer.page.wait_for_url(re.compile(r".*/preview\?as=\d+$"))
        assert "ada.lovelace@example.org" in marketer.page.inner_text("#previewed-for")
        for name, width in (("desktop", 600), ("mobile", 375)):
            frame = marketer.page.locator(f"#frame-{name}")
            marketer.page.wait_for_function(
                f"document.querySelector('#frame-{name}').dataset.fitted === '1'"
            )
            box = frame.bounding_box()
            assert box is not None and round(box["width"]) == width, (name, box)
            frame.screenshot(path=str(tmp_path / f"preview-{name}.png"))
            inner = frame.element_handle().content_frame()
            assert "Ada" in inner.inner_text("body")  # her own first name
        marketer.shot("preview")
        marketer.goto(campaign)
        marketer.page.click("#submit-button")
        marketer.page.wait_for_url("**?done=submit")
        assert marketer.page.inner_text("#approval-state") == "submitted"
        assert marketer.page.locator("#approve-button").count() == 0
        marketer.close()

        admin = Person(browser, banner.url, MOBILE, tmp_path, "admin")
        admin.sign_in("admin@demo.example", banner.passwords["admin"])
        admin.page.wait_for_url("**/admin/login/2fa")
        admin.page.fill("#code", pyotp.TOTP(banner.admin_key).now())
        admin.page.click("form[action='/admin/login/2fa'] button[type=submit]")
        admin.page.wait_for_url("**/admin/campaigns")
        admin.goto(campaign)
        admin.page.click("#approve-button")
        admin.page.wait_for_url("**?done=approve")
        assert admin.page.inner_text("#approval-state") == "approved"
        admin.shot("approved")
        admin.page.click("#send-button")
        admin.page.wait_for_url("**?done=sent")
        # Live progress (HTMX, no reload) reaches 100 %, one email per sample subscriber.
        people = len(sample_addresses())
        admin.page.wait_for_selector('#progress[data-percent="100"]', timeout=240_000)
        assert admin.page.inner_text("#progress-sent") == str(people)
        admin.shot("sent")

        # The emulator's signed events came back: the stats page counts the deliveries.
        def delivered() -> bool:
            admin.goto(f"{campaign}/stats")
            return admin.page.inner_text("#fig-delivered") == str(people)

        wait_for(delivered, "the stats page shows every delivery")
        admin.shot("stats")
        admin.close()
        assert sorted(p.name for p in tmp_path.glob("*.png")) == [
            "admin-approved.png",
            "admin-sent.png",
            "admin-stats.png",
            "marketer-draft.png",
            "marketer-preview.png",
            "preview-desktop.png",
            "preview-mobile.png",
        ]
        assert demo.stop(signal.SIGINT) == 0, demo.output
        all_gone(children)
    finally:
        if demo.process.poll() is None:
            demo.kill()
