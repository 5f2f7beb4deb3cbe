"""Unsubscribe (RFC 8058) and opt-in confirmation pages through the real ASGI stack (U-xx)."""

from __future__ import annotations

import random
import string

import pytest
from sqlalchemy import delete, func, select

from newsletter.services.double_opt_in import confirm_url, request_confirmation
from newsletter.services.lists import create_list
from newsletter.storage.tables import consent_records, subscribers, suppressions
from newsletter.tokens import new_random_id, sign
from tests.claim_probe import claimable
from tests.web.support import SECRET, seed_delivery, subscriber_status, suppression_of


def count(db, table) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def assert_private(response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "location" not in response.headers


def test_one_click_urlencoded(client, db):  # U-01, U-07
    s = seed_delivery(db, "ana@example.org")
    response = client.post(f"/u/{s.token}", data={"List-Unsubscribe": "One-Click"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert_private(response)
    assert suppression_of(db, s.email) == "unsubscribe_one_click"
    assert subscriber_status(db, s.email) == "unsubscribed"
    assert claimable(db, [s.subscriber_id]) == set()  # the next claim skips


def test_one_click_multipart_without_csrf_or_cookies(client, db):  # U-02, U-07
    s = seed_delivery(db, "ana@example.org")
    client.cookies.clear()
    response = client.post(
        f"/u/{s.token}",
        files={"List-Unsubscribe": (None, "One-Click")},
        headers={"Origin": "https://mail.provider.example"},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert_private(response)
    assert suppression_of(db, s.email) == "unsubscribe_one_click"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"data": {"confirm": "1"}}, {"content": b"--broken", "headers": {
        "Content-Type": "multipart/form-data; boundary=zz"}}],
)  # fmt: skip
def test_browser_form_posts_unsubscribe_too(client, db, kwargs):
    s = seed_delivery(db, "ana@example.org")
    response = client.post(f"/u/{s.token}", follow_redirects=False, **kwargs)
    assert response.status_code == 200
    assert suppression_of(db, s.email) == "unsubscribe_footer"


def test_repeated_posts_are_idempotent(client, db):  # U-03
    s = seed_delivery(db, "ana@example.org")
    for _ in range(3):
        response = client.post(f"/u/{s.token}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
    assert count(db, suppressions) == 1
    assert count(db, consent_records) == 1


def test_get_and_head_change_nothing(client, db):  # U-04
    s = seed_delivery(db, "ana@example.org")
    page = client.get(f"/u/{s.token}")
    assert page.status_code == 200
    assert '<form method="post"' in page.text and "Unsubscribe" in page.text
    assert s.email not in page.text  # the page names nobody
    assert_private(page)
    assert client.head(f"/u/{s.token}").status_code == 200
    assert suppression_of(db, s.email) is None
    assert subscriber_status(db, s.email) == "active"
    assert count(db, consent_records) == 0


def _bad_tokens(good: str, token_id: str, n: int) -> list[str]:
    rng = random.Random(8058)
    alphabet = string.ascii_letters + string.digits + "-_"
    tokens = [
        sign("click", token_id, key=SECRET),  # right id, wrong purpose
        sign("unsubscribe", token_id, key="another-secret-key-0123456789abcdef"),
        "b" + good[1:],  # unknown key id
        good[:-1],
        good + "A",
        "x",
        "A" * 400,
        "%C3%A9" * 10,
        sign("unsubscribe", new_random_id(), key=SECRET),  # genuine, but no such delivery
    ]
    while len(tokens) < n:
        if rng.random() < 0.5:
            tokens.append("".join(rng.choice(alphabet) for _ in range(len(good))))
        else:  # tamper with one character of a genuine token
            i = rng.randrange(len(good))
            options = alphabet.replace(good[i], "")
            tokens.append(good[:i] + rng.choice(options) + good[i + 1 :])
    return tokens


def test_random_and_tampered_tokens_get_a_generic_404(client, db):  # U-05
    s = seed_delivery(db, "ana@example.org")
    statuses = set()
    for i, token in enumerate(_bad_tokens(s.token, s.token_id, 1000)):
        if i % 2:
            response = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        else:
            response = client.get(f"/u/{token}")
        statuses.add(response.status_code)
        if response.status_code != 404:
            raise AssertionError(f"{token!r} → {response.status_code}")
    assert statuses == {404}
    assert "Link not found" in response.text and "Traceback" not in response.text
    assert_private(response)
    assert suppression_of(db, s.email) is None


def test_an_erased_subscriber_still_sees_unsubscribed(client, db):
    s = seed_delivery(db, "ana@example.org")
    with db.write() as conn:
        conn.execute(delete(subscribers).where(subscribers.c.id == s.subscriber_id))
    response = client.post(f"/u/{s.token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text


def test_unknown_paths_get_the_generic_404(client):
    response = client.get("/nothing/here")
    assert response.status_code == 404 and "Link not found" in response.text


# --- double opt-in confirmation ---------------------------------------------------------------


def _pending(db, settings) -> tuple[str, str]:
    create_list(db, "news", double_opt_in=True)
    outcome = request_confirmation(db, settings, email="new@example.org", list_name="news",
                                   consent_text="Yes, send me the clinic newsletter.",
                                   source="web:test")  # fmt: skip
    assert outcome.requested and outcome.token
    url = confirm_url(settings, outcome.token)
    assert url.startswith(settings.public_url + "/confirm/")
    return url.removeprefix(settings.public_url), "new@example.org"


def test_confirmation_get_and_head_confirm_nobody(client, db):  # F-05
    path, email = _pending(db, client.app.state.settings)
    page = client.get(path)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert client.head(path).status_code == 200
    assert subscriber_status(db, email) == "pending"


def test_confirmation_post_confirms_once(client, db):
    path, email = _pending(db, client.app.state.settings)
    for _ in range(2):
        response = client.post(path, follow_redirects=False)
        assert response.status_code == 200 and "Subscription confirmed" in response.text
    assert subscriber_status(db, email) == "active"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 600, "%00"])
def test_invalid_confirmation_links_get_a_page_not_a_traceback(client, token):
    response = client.post(f"/confirm/{token}")
    assert response.status_code in (400, 404)
    assert "Traceback" not in response.text
    assert response.headers["cache-control"] == "no-store"
