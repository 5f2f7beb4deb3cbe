"""The campaign pages in Debian's Chromium against the real app under uvicorn, the SendGrid
emulator (real HTTP, signed event posts back to the app) and the engine in-process: the
preview at 600 and 375 px for a subscriber found by typing (screenshots kept in tmp_path),
a test send that arrives at the emulator, a schedule in America/New_York shown in UTC,
send → live progress reaching 100 % without a reload, the stats page showing the
emulator's deliveries, and staff seeing no send control and getting 403."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from newsletter.config import load_settings
from newsletter.dispatch.local import ThreadPoolDispatcher
from newsletter.emulator import EmulatorConfig, run_emulator
from newsletter.engine import Engine
from newsletter.storage.database import Database
from newsletter.web.app import create_app
from tests.admin.pages_support import approve, new_campaign
from tests.admin.support import add_user
from tests.audience_db import _sqlite_template
from tests.browser.conftest import IMAGE
from tests.browser.test_admin_browser import Session
from tests.seed import REPO
from tests.sending.support import KEY, add_audience, context

pytestmark = pytest.mark.browser
PEOPLE = 25


class EmailSession(Session):
    """A Session whose emails' remote images (the seed's hero image) get a local PNG: the
    email is allowed images from anywhere; nothing else may leave 127.0.0.1."""

    def _route(self, route) -> None:  # type: ignore[no-untyped-def]
        request = route.request
        if not request.url.startswith(self.base) and request.resource_type == "image":
            route.fulfill(status=200, content_type="image/png", body=IMAGE)
        else:
            super()._route(route)


class Stack:
    def __init__(self, base: str, db: Database, settings, emulator) -> None:  # type: ignore[no-untyped-def]
        self.base, self.db, self.settings, self.emulator = base, db, settings, emulator


@pytest.fixture
def stack(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    path = tmp_path / "pages.db"
    shutil.copyfile(_sqlite_template(), path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        settings = load_settings(
            database_url=f"sqlite:///{path}", public_url=base, audiences_dir=REPO / "audiences",
            delivery="sendgrid", sendgrid_api_key=KEY, sendgrid_base_url=emu.base_url,
            sendgrid_webhook_public_key=emu.public_key, batch_size=10, tick_seconds=0.5,
        )  # fmt: skip
        db = Database.from_url(settings.database_url)
        add_audience(db, settings, "patients.example", PEOPLE, first_name="Robin")
        for email, role in [("m@clinic.example", "marketer"), ("s@clinic.example", "staff")]:
            add_user(db, email, role)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, db, process_on_startup=False),
                                               log_level="warning", lifespan="on"))  # fmt: skip
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        emu.set_webhook_url(base + "/webhooks/sendgrid")
        engine_db = Database.from_url(settings.database_url)
        ctx = context(engine_db, settings, emu.base_url)
        pool = ThreadPoolDispatcher(ctx, threads=2, worker_id="browser")
        engine = Engine(settings, engine_db, ctx, pool)
        engine.start()
        try:
            yield Stack(base, db, settings, emu)
        finally:
            engine.stop()
            engine_db.close()
            server.should_exit = True
            thread.join(timeout=10)
            db.close()


def test_preview_test_send_and_schedule_in_chromium(browser, stack, tmp_path):
    campaign = new_campaign(stack.db, stack.settings)
    marketer = EmailSession(browser, stack.base, 1400, tmp_path, "marketer")
    marketer.sign_in("m@clinic.example")
    marketer.page.wait_for_url("**/admin/campaigns")
    marketer.goto(f"/admin/campaigns/{campaign}/preview")
    marketer.page.fill("#q", "user00003")  # HTMX searches as one types
    marketer.page.wait_for_selector("a.pick-subscriber")
    marketer.page.click("a.pick-subscriber >> nth=0")
    marketer.page.wait_for_url(re.compile(r".*/preview\?as=\d+$"))
    assert "user00003@patients.example" in marketer.page.inner_text("#previewed-for")
    for name, width in (("desktop", 600), ("mobile", 375)):
        frame = marketer.page.locator(f"#frame-{name}")
        marketer.page.wait_for_function(
            f"document.querySelector('#frame-{name}').dataset.fitted === '1'"
        )  # preview.js made it as tall as the email
        box = frame.bounding_box()
        assert box is not None and round(box["width"]) == width, (name, box)
        assert frame.get_attribute("sandbox") == "allow-same-origin"
        frame.screenshot(path=str(tmp_path / f"preview-{name}.png"))
        assert (tmp_path / f"preview-{name}.png").stat().st_size > 5_000
        inner = frame.element_handle().content_frame()
        assert "Robin" in inner.inner_text("body")  # the subscriber's own first name
    assert "Robin" in marketer.page.inner_text("#text-part")
    marketer.shot("preview")
    phone = EmailSession(browser, stack.base, 375, tmp_path, "phone")
    phone.sign_in("m@clinic.example")
    phone.page.wait_for_url("**/admin/campaigns")
    for path in (f"/admin/campaigns/{campaign}/preview", f"/admin/campaigns/{campaign}/stats",
                 f"/admin/campaigns/{campaign}/schedule", "/admin"):  # fmt: skip
        phone.goto(path)
        assert phone.fits(), path  # no sideways scrolling at 375 px
    phone.close()

    marketer.goto(f"/admin/campaigns/{campaign}")
    marketer.page.fill("#test-addresses", "seed.one@example.org\nseed.two@example.org")
    marketer.page.click("#test-send-button")
    marketer.page.wait_for_url("**?done=tested*")
    for address in ("seed.one@example.org", "seed.two@example.org"):
        [message] = stack.emulator.messages_to(address)
        assert message["subject"].startswith("[TEST]")

    approve(stack.db, stack.settings, campaign)
    marketer.goto(f"/admin/campaigns/{campaign}/schedule")
    marketer.page.fill("#at", "2030-01-15T09:00")
    marketer.page.select_option("#zone", "America/New_York")
    marketer.page.fill("#late_hours", "3")
    marketer.page.click("#schedule-button")
    assert marketer.page.inner_text("#chosen-utc") == "2030-01-15 14:00 UTC"
    assert "09:00 EST" in marketer.page.inner_text("#chosen-local")
    marketer.shot("schedule-confirm")
    marketer.page.click("#confirm-schedule-button")
    marketer.page.wait_for_url("**?done=scheduled")
    shown = marketer.page.inner_text("#scheduled-at")
    assert "2030-01-15 09:00 EST (America/New_York)" in shown and "14:00 UTC" in shown
    marketer.close()


def test_send_progress_stats_and_staff_in_chromium(browser, stack, tmp_path):
    campaign = new_campaign(stack.db, stack.settings)
    approve(stack.db, stack.settings, campaign)
    staff = Session(browser, stack.base, 375, tmp_path, "staff")
    staff.sign_in("s@clinic.example")
    staff.page.wait_for_url("**/admin/campaigns")
    staff.goto(f"/admin/campaigns/{campaign}")
    for selector in ("#send-button", "#schedule-link", "#test-send-button", "#preview-link"):
        assert staff.page.locator(selector).count() == 0, selector
    assert staff.post_with_token(f"/admin/campaigns/{campaign}/send") == 403
    assert staff.post_with_token(f"/admin/campaigns/{campaign}/schedule") == 403
    assert staff.post_with_token(f"/admin/campaigns/{campaign}/pause") == 403

    marketer = Session(browser, stack.base, 1280, tmp_path, "sender")
    marketer.sign_in("m@clinic.example")
    marketer.page.wait_for_url("**/admin/campaigns")
    marketer.goto(f"/admin/campaigns/{campaign}")
    marketer.page.click("#send-button")
    marketer.page.wait_for_url("**?done=sent")
    url = marketer.page.url
    # HTMX polls the fragment every 2 s; the page itself is never reloaded.
    marketer.page.wait_for_selector('#progress[data-percent="100"]', timeout=90_000)
    marketer.page.wait_for_function(  # the page reloaded itself once the status changed
        "document.querySelector('#campaign-status').textContent.trim() === 'sent'"
    )
    assert marketer.page.url == url
    assert marketer.page.inner_text("#progress-sent") == str(PEOPLE)
    assert marketer.page.locator("#progress[hx-trigger]").count() == 0  # polling stopped
    marketer.shot("progress-100")

    for index in range(PEOPLE):  # the emulator has each of them exactly once
        assert len(stack.emulator.messages_to(f"user{index:05d}@patients.example")) == 1
    deadline = time.monotonic() + 60
    delivered = ""
    while time.monotonic() < deadline:  # until the emulator's delivered events are counted
        stack.emulator.flush_webhook()
        marketer.goto(f"/admin/campaigns/{campaign}/stats")
        delivered = marketer.page.inner_text("#fig-delivered")
        if delivered == str(PEOPLE):
            break
        marketer.page.wait_for_timeout(500)
    assert delivered == str(PEOPLE)
    assert marketer.page.locator("#timeline-chart svg rect.bar").count() >= 1
    marketer.shot("stats")
    marketer.goto("/admin")
    assert f"/admin/campaigns/{campaign}" in marketer.page.content()
    marketer.close()
    staff.goto(f"/admin/campaigns/{campaign}/stats")  # staff may read the figures
    assert staff.page.inner_text("#fig-delivered") == str(PEOPLE)
    assert staff.fits()
    staff.close()
