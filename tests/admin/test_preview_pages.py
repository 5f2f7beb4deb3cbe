"""The preview page (#15 item 3): frames at both widths, sandboxed as `newsletter preview`
sandboxes them, the text part and inbox line for a chosen real subscriber (searched by a
POST, named by id in URLs), preview tokens only, the checklist with its fixes; and the test
send through the real SendGrid client to the emulator, at most ten addresses."""

from __future__ import annotations

import re

from newsletter import tokens
from newsletter.storage import audit_log
from tests.admin.pages_support import (
    HOSTILE,
    add_people,
    db_url,  # noqa: F401
    make_site,
    new_campaign,
)
from tests.admin.support import csrf_of
from tests.emulator_fixture import emulator  # noqa: F401
from tests.sending.support import KEY


def _tokens_in(html: str) -> list[str]:
    return re.findall(r"/(?:r/[A-Za-z0-9]+|u|p|o)/([A-Za-z0-9_.\-]+)", html)


def test_preview_for_a_chosen_subscriber_uses_preview_tokens_and_escapes(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    people = add_people(site.db, site.settings, 3)
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}/preview")
    assert page.status_code == 200
    assert 'sandbox="allow-same-origin"' in page.text and "allow-scripts" not in page.text
    assert page.text.count('class="email-frame') == 2
    assert 'id="inbox-line"' in page.text and 'id="text-part"' in page.text

    found = marketer.post(
        f"/admin/campaigns/{campaign}/preview/search",
        data={"q": "user0000", "csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    assert found.status_code == 200 and people[0] in found.text
    pick = re.search(r'href="(/admin/campaigns/\d+/preview\?as=(\d+))"', found.text)
    assert pick, found.text
    assert "@" not in pick.group(1)  # a person is never named in a URL
    chosen = marketer.get(pick.group(1))
    assert chosen.status_code == 200 and people[0] in chosen.text
    assert HOSTILE not in chosen.text and "&lt;script&gt;" in chosen.text

    frame = marketer.get(f"/admin/campaigns/{campaign}/preview/email.html?as={pick.group(2)}")
    assert frame.status_code == 200
    assert "script-src 'none'" in frame.headers["content-security-policy"]
    found_tokens = _tokens_in(frame.text)
    assert found_tokens, "the email has tracked links"
    keys = site.settings.signing_keys
    for token in set(found_tokens):
        assert tokens.verify("preview", token, keys=keys) is not None, token
        assert tokens.verify("unsubscribe", token, keys=keys) is None


def test_search_without_javascript_returns_the_page_and_no_match_is_said(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    marketer = site.person("marketer")
    token = csrf_of(marketer.get(f"/admin/campaigns/{campaign}/preview").text)
    page = marketer.post(
        f"/admin/campaigns/{campaign}/preview/search", data={"q": HOSTILE, "csrf_token": token}
    )
    assert page.status_code == 200 and "<h1>Preview</h1>" in page.text
    assert HOSTILE not in page.text and "No subscriber" in page.text
    assert marketer.post(f"/admin/campaigns/{campaign}/preview/search",
                         data={"q": "x"}).status_code == 403  # fmt: skip
    assert marketer.get(f"/admin/campaigns/{campaign}/preview?as=99999").status_code == 404


def test_failed_checks_link_to_their_fix(make_client, clock):
    site = make_site(make_client, clock, public_url="http://news.clinic.example")
    campaign = new_campaign(site.db, site.settings, subject="x" * 150)
    page = site.person("marketer").get(f"/admin/campaigns/{campaign}/preview").text
    checklist = page.split('id="checklist"')[1].split("</div>")[0]
    assert "Subject" in checklist and f'href="/admin/campaigns/{campaign}#edit-form"' in checklist
    assert "Public URL" in checklist and "NEWSLETTER_PUBLIC_URL" in checklist
    assert "blocks sending" in checklist


def test_staff_cannot_preview_or_test_send(make_client, clock):
    site = make_site(make_client, clock)
    campaign = new_campaign(site.db, site.settings)
    staff = site.person("staff")
    assert staff.get(f"/admin/campaigns/{campaign}/preview").status_code == 403
    token = csrf_of(staff.get("/admin/account").text)
    sent = staff.post(f"/admin/campaigns/{campaign}/test-send",
                      data={"csrf_token": token, "addresses": "a@example.org"})  # fmt: skip
    assert sent.status_code == 403
    assert "test-send-button" not in staff.get(f"/admin/campaigns/{campaign}").text


def test_test_send_arrives_at_the_emulator_marked_as_test(make_client, clock, emulator):  # noqa: F811
    site = make_site(make_client, clock, delivery="sendgrid", sendgrid_api_key=KEY,
                     sendgrid_base_url=emulator.base_url)  # fmt: skip
    campaign = new_campaign(site.db, site.settings)
    marketer = site.person("marketer")
    page = marketer.get(f"/admin/campaigns/{campaign}")
    sent = marketer.post(
        f"/admin/campaigns/{campaign}/test-send",
        data={
            "csrf_token": csrf_of(page.text),
            "addresses": "seed1@example.org, seed2@example.org",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    for address in ("seed1@example.org", "seed2@example.org"):
        [message] = emulator.messages_to(address)
        assert message["subject"].startswith("[TEST]")
    with site.db.read() as conn:
        entries = audit_log.recent(conn)
    [entry] = [e for e in entries if e.action == "campaign-test-send"]
    assert entry.actor.startswith("marketer") or "marketer@clinic.example" in entry.actor
    assert "seed1" not in str(entry.detail)  # how many, never who


def test_test_send_refuses_eleven_or_a_bad_address_sending_nothing(make_client, clock, emulator):  # noqa: F811
    site = make_site(make_client, clock, delivery="sendgrid", sendgrid_api_key=KEY,
                     sendgrid_base_url=emulator.base_url)  # fmt: skip
    campaign = new_campaign(site.db, site.settings)
    marketer = site.person("marketer")
    token = csrf_of(marketer.get(f"/admin/campaigns/{campaign}").text)
    eleven = "\n".join(f"seed{i}@example.org" for i in range(11))
    too_many = marketer.post(f"/admin/campaigns/{campaign}/test-send",
                             data={"csrf_token": token, "addresses": eleven})  # fmt: skip
    assert too_many.status_code == 400 and "at most 10" in too_many.text
    bad = marketer.post(
        f"/admin/campaigns/{campaign}/test-send",
        data={"csrf_token": token, "addresses": f"ok@example.org\n{HOSTILE}"},
    )
    assert bad.status_code == 400 and "is not an email address" in bad.text
    assert HOSTILE not in bad.text
    assert emulator.messages_to("seed0@example.org") == []
    assert emulator.messages_to("ok@example.org") == []
