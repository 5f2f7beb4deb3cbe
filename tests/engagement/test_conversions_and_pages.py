"""Bookings (`POST /api/v1/conversions`, Calendly), the preference page, and the pages of
test-send and preview links, over the ASGI stack on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, insert, select, update

from newsletter.engagement import calendly
from newsletter.storage.engagement_tables import conversions
from newsletter.storage.sending_tables import campaigns
from newsletter.storage.tables import (
    consent_records,
    consent_texts,
    lists,
    subscribers,
    subscriptions,
    suppressions,
)
from newsletter.tokens import new_random_id, sign
from tests.engagement.conftest import API_KEY, CALENDLY_KEY, SECRET, START

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def booking(booking_id: str = "bk-1", days: float = 1, content: str = "L1", **extra) -> dict:
    when = (START + timedelta(days=days)).isoformat()
    utm = {
        "source": "newsletter",
        "medium": "email",
        "campaign": "newsletter-2026-12",
        "content": content,
    }
    return {"booking_id": booking_id, "occurred_at": when, "utm": utm, **extra}


def test_a_booking_posted_twice_counts_once(tracked):
    first = tracked.client.post("/api/v1/conversions", json=booking(), headers=AUTH)
    assert first.status_code == 201
    body = first.json()
    assert body == {
        "conversion_id": body["conversion_id"],
        "attributed": True,
        "campaign_id": tracked.campaign_id,
        "link": "L1",
    }
    again = tracked.client.post("/api/v1/conversions", json=booking(), headers=AUTH)
    assert (again.status_code, again.json()) == (200, body)
    stats = tracked.stats()
    assert stats["conversions"] == 1
    assert next(x for x in stats["links"] if x["key"] == "L1")["conversions"] == 1
    with tracked.db.read() as conn:
        row = conn.execute(select(conversions)).one()
    assert "bk-1" not in str(tuple(row))  # only a keyed hash of the booking id


def test_unattributed_bookings_are_stored_apart(tracked):
    late = tracked.client.post(
        "/api/v1/conversions", json=booking("bk-late", days=15), headers=AUTH
    )
    assert (late.status_code, late.json()["attributed"], late.json()["campaign_id"]) == (
        201,
        False,
        None,
    )
    honeypot = tracked.client.post(
        "/api/v1/conversions", json=booking("bk-h", content="L0"), headers=AUTH
    )
    assert honeypot.json()["attributed"] is False
    no_utm = tracked.client.post(
        "/api/v1/conversions",
        headers=AUTH,
        json={"booking_id": "bk-n", "occurred_at": "2026-12-02T10:00:00+01:00"},
    )
    assert (no_utm.status_code, no_utm.json()["link"]) == (201, None)
    assert tracked.stats()["conversions"] == 0


def test_forbidden_fields_and_bad_keys_are_refused(tracked):
    refused = tracked.client.post(
        "/api/v1/conversions", headers=AUTH, json=booking(email="ana@example.org")
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "email"
    assert "email" in refused.json()["error"]
    nested = booking()
    nested["utm"]["term"] = "depression"
    assert tracked.client.post("/api/v1/conversions", json=nested, headers=AUTH).json() == {
        "error": "field 'utm.term' is not accepted: utm holds source, medium, campaign and "
        "content only",
        "field": "utm.term",
    }
    assert tracked.client.post("/api/v1/conversions", json=booking()).status_code == 401
    wrong = {"Authorization": "Bearer " + API_KEY[:-1] + "x"}
    assert (
        tracked.client.post("/api/v1/conversions", json=booking(), headers=wrong).status_code == 401
    )
    assert (
        tracked.client.post("/api/v1/conversions", content=b"{no", headers=AUTH).status_code == 400
    )
    with tracked.db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(conversions)) == 0


def sign_calendly(timestamp: int, body: bytes) -> str:
    return calendly.signature(CALENDLY_KEY, str(timestamp), body)


def calendly_body(email: str = "ana@example.org") -> bytes:
    return json.dumps(
        {
            "event": "invitee.created",
            "created_at": (START + timedelta(days=2)).isoformat(),
            "payload": {
                "uri": "https://api.calendly.com/scheduled_events/E1/invitees/I1",
                "created_at": (START + timedelta(days=2)).isoformat(),
                "email": email,
                "name": "Ana Example",
                "questions_and_answers": [{"answer": "insomnia"}],
                "tracking": {
                    "utm_campaign": "newsletter-2026-12",
                    "utm_source": "newsletter",
                    "utm_medium": "email",
                    "utm_content": "L1",
                    "utm_term": None,
                },
            },
        }
    ).encode()


def test_calendly_bookings_are_verified_and_keep_nothing_personal(tracked):
    body = calendly_body("calendly-person@example.org")
    now = int(tracked.clock())
    bad = {calendly.SIGNATURE_HEADER: f"t={now},v1={calendly.signature('wrong', str(now), body)}"}
    response = tracked.client.post("/webhooks/calendly", content=body, headers=bad)
    assert response.status_code == 403
    stale = now - 600
    old = {calendly.SIGNATURE_HEADER: f"t={stale},v1={sign_calendly(stale, body)}"}
    assert tracked.client.post("/webhooks/calendly", content=body, headers=old).status_code == 403
    good = {calendly.SIGNATURE_HEADER: f"t={now},v1={sign_calendly(now, body)}"}
    response = tracked.client.post("/webhooks/calendly", content=body, headers=good)
    assert response.status_code == 200
    assert response.json()["attributed"] is True
    assert tracked.client.post("/webhooks/calendly", content=body, headers=good).json() == (
        response.json()
    )
    assert tracked.stats()["conversions"] == 1
    with tracked.db.read() as conn:  # the raw body is stored nowhere
        for table in (conversions, subscribers, consent_records):
            dump = str([tuple(r) for r in conn.execute(select(table))])
            assert "calendly-person" not in dump and "insomnia" not in dump and "Ana" not in dump


def test_a_test_sends_unsubscribe_link_says_so_and_changes_nothing(tracked):
    token = tracked.test_token()
    page = tracked.client.get(f"/u/{token}")
    assert page.status_code == 200
    assert "This was a test email" in page.text
    posted = tracked.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 200 and "This was a test email" in posted.text
    assert "This was a test email" in tracked.client.get(f"/p/{token}").text
    with tracked.db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(suppressions)) == 0


def test_preview_links_never_redirect(tracked):
    preview = sign("preview", new_random_id(), key=SECRET)
    for path in (f"/r/L1/{preview}", f"/u/{preview}", f"/p/{preview}"):
        response = tracked.client.get(path, follow_redirects=False)
        assert response.status_code == 200, path
        assert "This is a preview" in response.text
        assert "location" not in response.headers
    assert tracked.client.post(f"/u/{preview}").status_code == 200
    assert tracked.stats()["test_clicks"] == 0


def test_the_preference_page_chooses_topics_leaves_and_comes_back(tracked):
    delivery = tracked.deliveries[0]
    token = tracked.token(delivery, "preferences")
    page = tracked.client.get(f"/p/{token}")
    assert page.status_code == 200
    assert "Research news" in page.text and "Events and talks" in page.text
    assert "@" not in page.text  # the page names no address
    saved = tracked.client.post(f"/p/{token}", data={"action": "save", "topic": ["events"]})
    assert "Your choices are saved" in saved.text
    assert 'value="events" checked' in saved.text
    assert 'value="research-news" checked' not in saved.text
    left = tracked.client.post(f"/p/{token}", data={"action": "leave"})
    assert "You are unsubscribed" in left.text
    with tracked.db.read() as conn:
        status = conn.scalar(
            select(subscribers.c.status).where(subscribers.c.email == "r0000@example.org")
        )
    assert status == "unsubscribed"
    assert tracked.stats()["unsubscribes"] == 1
    back = tracked.client.post(f"/p/{token}", data={"action": "resubscribe"})
    assert "Welcome back" in back.text
    with tracked.db.read() as conn:
        status = conn.scalar(
            select(subscribers.c.status).where(subscribers.c.email == "r0000@example.org")
        )
        consent = conn.execute(
            select(consent_records.c.method, consent_texts.c.text)
            .join(consent_texts, consent_texts.c.version == consent_records.c.consent_text_version)
            .where(consent_records.c.event == "resubscribed")
        ).one()
    assert status == "active"
    assert tuple(consent) == (
        "preference_page",
        "Yes, send me newsletter emails from Mindstream Medicine again.",
    )
    assert tracked.client.get(f"/p/{tracked.token(delivery, 'click')}").status_code == 404


def test_coming_back_after_an_unsubscribe_that_recorded_no_lists(tracked):
    """An unsubscribe from before the record left memberships without `suppressed_from`:
    the page restores the list this email went to, or asks the person to contact the clinic
    when it went to a segment — never every list, never a CLI option in the message."""
    delivery = tracked.deliveries[1]
    token = tracked.token(delivery, "preferences")
    with tracked.db.write() as conn:
        subscriber_id = conn.scalar(
            select(subscribers.c.id).where(subscribers.c.email == "r0001@example.org")
        )
        conn.execute(insert(lists), [{"name": n, "created_at": START} for n in ("news", "events")])
        list_ids = dict(conn.execute(select(lists.c.name, lists.c.id)).all())
        conn.execute(
            insert(subscriptions),
            [
                {"subscriber_id": subscriber_id, "list_id": list_ids[name],
                 "status": "unsubscribed", "created_at": START, "updated_at": START}
                for name in ("news", "events")
            ],
        )  # fmt: skip
    assert (
        "You are unsubscribed" in tracked.client.post(f"/p/{token}", data={"action": "leave"}).text
    )

    def memberships() -> dict[str, str]:
        with tracked.db.read() as conn:
            return dict(
                conn.execute(
                    select(lists.c.name, subscriptions.c.status)
                    .join(lists, lists.c.id == subscriptions.c.list_id)
                    .where(subscriptions.c.subscriber_id == subscriber_id)
                ).all()
            )

    unknown = tracked.client.post(f"/p/{token}", data={"action": "resubscribe"})
    assert "please contact Mindstream Medicine to subscribe again" in unknown.text
    assert "--list" not in unknown.text
    assert memberships() == {"news": "unsubscribed", "events": "unsubscribed"}
    with tracked.db.write() as conn:
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == tracked.campaign_id)
            .values(target="list:news")
        )
    back = tracked.client.post(f"/p/{token}", data={"action": "resubscribe"})
    assert "Welcome back" in back.text
    assert memberships() == {"news": "active", "events": "unsubscribed"}
