"""End to end: the seed article to 1,000 recipients through the SendGrid emulator, whose signed
events reach the product's web app under a real uvicorn server; people and a scanner click
links taken from the emails as received; bookings come back with the UTM values the booking
page received; `newsletter campaign stats --json` reports exactly what happened."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn

from newsletter.config import load_settings
from newsletter.emulator import EmulatorConfig, run_emulator
from newsletter.engagement.stats import campaign_stats
from newsletter.services.test_sends import send_test
from newsletter.storage.database import Database
from newsletter.storage.engagement_tables import clicks
from newsletter.web.app import create_app
from tests.audience_db import db_url  # noqa: F401
from tests.engagement.conftest import API_KEY, CHROME
from tests.seed import REPO
from tests.sending.support import KEY, add_audience, context, new_campaign
from tests.sending.test_send_flow import run

PEOPLE = 1000
HUMANS = 40
SCANNED = 10
BOOKINGS = 7
LINK = re.compile(r'href="(http://127\.0\.0\.1:\d+/r/(L\d+)/[^"]+)"')


class OffsetClock:
    """The app's clock: real time plus an offset the test moves (people click later)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_seed_article_to_a_thousand_then_clicks_bookings_and_stats(
    db_url,  # noqa: F811
    tmp_path,
    monkeypatch,
    cli,
):
    sock = _free_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        for name, value in {
            "NEWSLETTER_DATABASE_URL": db_url,
            "NEWSLETTER_PUBLIC_URL": public,
            "NEWSLETTER_AUDIENCES_DIR": str(REPO / "audiences"),
            "NEWSLETTER_SENDGRID_BASE_URL": emu.base_url,
            "NEWSLETTER_SENDGRID_API_KEY": KEY,
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": emu.public_key,
            "NEWSLETTER_CONVERSIONS_API_KEY": API_KEY,
            "NEWSLETTER_BATCH_SIZE": "100",
        }.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        db = Database.from_url(db_url)
        clock = OffsetClock()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, db, clock=clock), log_level="warning", lifespan="on"
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        assert _wait(lambda: server.started, 10)
        emu.set_webhook_url(f"{public}/webhooks/sendgrid")
        try:
            emails = add_audience(db, settings, "e2e.example", PEOPLE, first_name="Pat")
            scripted = [f"bounce+{n}@e2e.example" for n in range(3)] + [
                f"blocked+{n}@e2e.example" for n in range(2)
            ]
            _add_scripted(db, settings, scripted)
            campaign_id = new_campaign(db, settings)
            run(context(db, settings, emu.base_url), campaign_id)

            def settled() -> bool:
                emu.flush_webhook()
                s = campaign_stats(db, campaign_id, open_tracking=False)
                return s["delivered"] == PEOPLE and s["bounced"] == 5

            assert _wait(settled), campaign_stats(db, campaign_id, open_tracking=False)

            # A complaint from one person, as SendGrid reports it.
            [complainer] = emu.messages_to(emails[-1])
            emu.inject_event("spamreport", emails[-1], custom_args=complainer["custom_args"])

            http = httpx.Client(base_url=public, follow_redirects=False, timeout=10)
            links = {
                e: dict((key, url) for url, key in LINK.findall(emu.messages_to(e)[0]["html"]))
                for e in emails[: HUMANS + SCANNED]
            }
            # A security gateway follows every link of 10 emails as they arrive.
            for e in emails[HUMANS : HUMANS + SCANNED]:
                for url in links[e].values():
                    response = http.get(url, headers={"user-agent": CHROME})
                    assert response.status_code == 302
            # People click "Book a consultation" ten minutes later, one behind a proxy.
            clock.offset = 600
            bookings = []
            for n, e in enumerate(emails[:HUMANS]):
                extra = {"x-forwarded-for": "203.0.113.50"} if n == 0 else {}
                response = http.get(links[e]["L1"], headers={"user-agent": CHROME, **extra})
                assert response.status_code == 302
                location = response.headers["location"]
                assert location.startswith(settings.booking_url)
                assert e not in location and "/r/" not in location
                bookings.append(parse_qs(urlsplit(location).query))
            # Some book; two booking systems report twice; one report is refused.
            auth = {"Authorization": f"Bearer {API_KEY}"}
            occurred = datetime.fromtimestamp(clock() + 3600, UTC).isoformat()
            for n, utm in enumerate(bookings[:BOOKINGS]):
                body = {
                    "booking_id": f"booking-{n}",
                    "occurred_at": occurred,
                    "utm": {k.removeprefix("utm_"): v[0] for k, v in utm.items()},
                }
                for _ in range(2 if n < 2 else 1):
                    assert http.post(
                        "/api/v1/conversions", json=body, headers=auth
                    ).status_code in (200, 201)
            refused = http.post(
                "/api/v1/conversions",
                headers=auth,
                json={"booking_id": "x", "occurred_at": occurred, "name": "Pat"},
            )
            assert (refused.status_code, refused.json()["field"]) == (422, "name")
            # A test send to staff: its link redirects and counts apart.
            send_test(db, settings, _backend(settings), campaign_id, ["staff@clinic.example"])
            [test_mail] = emu.messages_to("staff@clinic.example")
            test_url = dict((k, u) for u, k in LINK.findall(test_mail["html"]))["L1"]
            assert http.get(test_url).status_code == 302
            unsubscribe = re.search(r'href="(http://127\.0\.0\.1:\d+/u/[^"]+)"', test_mail["html"])
            assert "This was a test email" in http.post(unsubscribe[1]).text
            assert _wait(
                lambda: (
                    (
                        emu.flush_webhook(),
                        campaign_stats(db, campaign_id, open_tracking=False)["complaints"],
                    )[1]
                    == 1
                )
            )
            assert server.should_exit is False
        finally:
            server.should_exit = True
            thread.join(timeout=20)
        result = cli("campaign", "stats", campaign_id, "--json")
        assert result.code == 0, result.err
        stats = json.loads(result.out)
        expected = {
            "recipients": PEOPLE + 5,
            "accepted": PEOPLE + 5,
            "delivered": PEOPLE,
            "bounced": 5,
            "bounced_hard": 3,
            "bounced_soft": 2,
            "dropped": 0,
            "complaints": 1,
            "complaint_guard": "warn",
            "unsubscribes": 0,
            "human_clicks": HUMANS,
            "consultation_clicks": HUMANS,
            "machine_clicks": SCANNED * len(links[emails[HUMANS]]),
            "test_clicks": 1,
            "conversions": BOOKINGS,
            "click_rate": HUMANS / PEOPLE,
            "conversion_rate": BOOKINGS / PEOPLE,
        }
        assert {k: stats[k] for k in expected} == expected
        consultation = next(x for x in stats["links"] if x["kind"] == "consultation")
        assert (
            consultation["human_clicks"],
            consultation["machine_clicks"],
            consultation["conversions"],
        ) == (HUMANS, SCANNED, BOOKINGS)
        with db.read() as conn:
            prefixes = {
                row.ip_prefix
                for row in conn.execute(clicks.select().where(clicks.c.machine.is_(False)))
            }
        assert "203.0.113.0/24" in prefixes  # X-Forwarded-For from a trusted proxy
        db.close()


def _add_scripted(db, settings, addresses) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from newsletter.domain.subscribers import email_hash
    from newsletter.storage.tables import subscribers

    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": a,
                    "email_hash": email_hash(settings.signing_keys["a"], a),
                    "first_name": "Pat",
                    "status": "active",
                    "signed_up_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for a in addresses
            ],
        )


def _backend(settings):  # type: ignore[no-untyped-def]
    from newsletter.bootstrap import delivery_backend

    return delivery_backend(settings)
