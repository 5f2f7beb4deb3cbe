"""The README's first command, used as a new user would, in Debian's Chromium: `newsletter
demo` runs as a real process (web app, engine, SendGrid emulator); the marketer signs in
with the printed password, opens the draft, submits it; the admin signs in (password, then
the code of the printed key) and approves it; the campaign is sent, progress reaches 100 %
and the emulator's delivery events are counted. Screenshots are kept in the test's
tmp_path; no request leaves 127.0.0.1."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pyotp
import pytest

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

        def finished() -> bool:
            admin.goto(campaign)
            return admin.page.inner_text("#campaign-status") == "sent"

        wait_for(finished, "the campaign page says sent")
        assert admin.page.get_attribute("#progress", "data-percent") == "100"
        assert admin.page.inner_text("#progress-percent") == "100 %"
        admin.shot("sent")
        admin.close()

        # The emulator's events came back: one delivery per sample subscriber.
        def delivered():  # type: ignore[no-untyped-def]
            stats = json.loads(demo.cli("campaign", "stats", str(banner.campaign_id), "--json")
                               .stdout or "{}")  # fmt: skip
            return stats.get("delivered") == len(sample_addresses()) and stats

        wait_for(delivered, "deliveries counted")
        assert sorted(p.name for p in tmp_path.glob("*.png")) == [
            "admin-approved.png",
            "admin-sent.png",
            "marketer-draft.png",
        ]
        assert demo.stop(signal.SIGINT) == 0, demo.output
        all_gone(children)
    finally:
        if demo.process.poll() is None:
            demo.kill()
