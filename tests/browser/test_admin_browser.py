"""The admin in Debian's Chromium, against the real app under uvicorn on loopback: a marketer
signs in, uploads the seed article, creates a campaign and submits it, and cannot approve it;
an admin enrols TOTP and approves it; a staff user sees no send or edit button and is refused
on those routes. No request leaves 127.0.0.1, no CSP violation is reported, and the pages fit
375 px. Screenshots are kept in the test's tmp_path."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pyotp
import pytest
import uvicorn

from newsletter.config import load_settings
from newsletter.storage.database import Database
from newsletter.web.app import create_app
from tests.admin.support import PASSWORD, add_user
from tests.audience_db import _sqlite_template
from tests.seed import REPO, SEED_FORMATS

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "admin.db"
    shutil.copyfile(_sqlite_template(), path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(
        database_url=f"sqlite:///{path}", public_url=base, audiences_dir=REPO / "audiences"
    )
    db = Database.from_url(settings.database_url)
    for email, role in [
        ("admin@clinic.example", "admin"),
        ("m@clinic.example", "marketer"),
        ("s@clinic.example", "staff"),
    ]:
        add_user(db, email, role)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db, process_on_startup=False), log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield base
    server.should_exit = True
    thread.join(timeout=10)
    db.close()


class Session:
    """One person's browser context: only our own origin is reachable."""

    def __init__(self, browser, base: str, width: int, shots: Path, name: str):  # type: ignore[no-untyped-def]
        self.base, self.shots, self.name = base, shots, name
        self.context = browser.new_context(viewport={"width": width, "height": 800})
        self.elsewhere: list[str] = []
        self.problems: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on(
            "console", lambda m: self.problems.append(m.text) if m.type == "error" else None
        )

    def _route(self, route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, label: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.name}-{label}.png"), full_page=True)

    def sign_in(self, email: str) -> None:
        self.goto("/admin/login")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")

    def post_with_token(self, path: str) -> int:
        token = self.page.locator("input[name=csrf_token]").first.get_attribute("value")
        response = self.page.request.post(
            self.base + path,
            form={"csrf_token": token},
            headers={"Origin": self.base},
            max_redirects=0,
        )
        return response.status

    def fits(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], self.elsewhere
        assert not [p for p in self.problems if "Content Security Policy" in p], self.problems


def test_marketer_to_admin_approval_and_staff_in_chromium(browser, site, tmp_path):
    marketer = Session(browser, site, 1280, tmp_path, "marketer")
    marketer.sign_in("m@clinic.example")
    marketer.page.wait_for_url("**/admin/campaigns")
    marketer.goto("/admin/articles")
    marketer.page.set_input_files("#file", str(SEED_FORMATS["markdown"]))
    marketer.page.click("text=Add the article >> nth=0")
    marketer.page.wait_for_url(re.compile(r".*/admin/articles/\d+\?done=added"))
    assert "Neuroplasticity" in marketer.page.inner_text("h1")
    marketer.shot("article")
    marketer.page.click("text=New campaign from this article")
    marketer.page.wait_for_url("**/admin/campaigns/new?article=*")
    marketer.page.select_option("#segment", "everyone")
    marketer.page.wait_for_function(  # the live count (HTMX) fills in without a reload
        "document.querySelector('#recipient-count').textContent.includes('recipient')"
    )
    marketer.page.fill("#subject", "How ketamine helps the brain rewire")
    marketer.page.click("text=Create the draft")
    marketer.page.wait_for_url(re.compile(r".*/admin/campaigns/\d+\?done=created"))
    campaign_path = marketer.page.url.split(site)[1].split("?")[0]
    marketer.page.click("#submit-button")
    marketer.page.wait_for_url("**?done=submit")
    assert marketer.page.inner_text("#approval-state") == "submitted"
    assert marketer.page.locator("#approve-button").count() == 0
    assert marketer.post_with_token(campaign_path + "/approve") == 403
    assert marketer.post_with_token(campaign_path + "/send") == 403  # not approved: refused
    marketer.shot("submitted")
    marketer.close()

    admin = Session(browser, site, 375, tmp_path, "admin")
    admin.sign_in("admin@clinic.example")
    admin.page.wait_for_url("**/admin/enrol")
    assert admin.page.locator(".qr svg").count() == 1
    secret = admin.page.inner_text("#totp-secret")
    admin.page.fill("#code", pyotp.TOTP(secret).now())
    admin.page.click("text=Confirm")
    assert admin.page.locator("#recovery-codes li").count() == 10
    admin.shot("recovery-codes")
    admin.page.click("text=I have saved them")
    admin.goto(campaign_path)
    assert admin.fits()
    admin.page.fill("#approve-comment", "Clear and kind. Approved.")
    admin.page.click("#approve-button")
    admin.page.wait_for_url("**?done=approve")
    assert admin.page.inner_text("#approval-state") == "approved"
    assert admin.page.locator("#send-button").count() == 1
    admin.shot("approved-375")
    admin.goto("/admin/campaigns")
    assert admin.fits()
    admin.close()

    staff = Session(browser, site, 375, tmp_path, "staff")
    staff.sign_in("s@clinic.example")
    staff.page.wait_for_url("**/admin/campaigns")
    staff.goto(campaign_path)
    for selector in (
        "#send-button",
        "#edit-form",
        "#submit-button",
        "#approve-button",
        "#duplicate-button",
        "#delete-button",
    ):
        assert staff.page.locator(selector).count() == 0, selector
    assert staff.post_with_token(campaign_path + "/send") == 403
    assert staff.post_with_token(campaign_path + "/edit") == 403
    staff.goto(campaign_path + "/../new")
    assert "Not allowed" in staff.page.inner_text("h1")
    staff.shot("forbidden")
    staff.close()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "admin-approved-375.png",
        "admin-recovery-codes.png",
        "marketer-article.png",
        "marketer-submitted.png",
        "staff-forbidden.png",
    ]
