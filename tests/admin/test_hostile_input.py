"""Hostile values in every admin form field (S-08, S-09): script tags, attribute breakers,
SQL, 1 MB strings, NUL, bad UTF-8. Each is refused (4xx with a message) or stored and shown
escaped; never a 500, never markup of ours broken open."""

from __future__ import annotations

import re
import shutil
from urllib.parse import quote

import pytest

from newsletter.services import article_library
from newsletter.storage import account_store
from tests.admin.support import add_user, csrf_of, enrol, sign_in
from tests.admin.test_admin_http import _fixtures
from tests.audience_db import _sqlite_template

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE users; --"
HOSTILE = [SCRIPT, ATTRIBUTE, SQL, "A" * 1_000_000, "a\x00b", "Robert'); --\u202e"]

# (form path, the page it is on, its valid fields)
FORMS = [
    (
        "/admin/users",
        "/admin/users",
        {"email": "new@clinic.example", "role": "staff", "password": "a long enough password"},
    ),
    ("/admin/users/2/role", "/admin/users", {"role": "staff"}),
    ("/admin/users/2/password", "/admin/users", {"password": "a long enough password"}),
    ("/admin/articles/paste", "/admin/articles", {"text": "# T\n\nBody", "format": "auto"}),
    ("/admin/articles/url", "/admin/articles", {"url": "https://blog.example/post"}),
    (
        "/admin/campaigns",
        "/admin/campaigns/new",
        {"article": "1", "template": "article", "segment": "everyone", "subject": "Hello"},
    ),
    (
        "/admin/campaigns/1/edit",
        "/admin/campaigns/1",
        {
            "subject": "S",
            "preheader": "P",
            "sender_name": "N",
            "sender_email": "news@mindstream.example",
        },
    ),
    ("/admin/campaigns/1/submit", "/admin/campaigns/1", {"comment": "please"}),
    ("/admin/account/password", "/admin/account", {"current": "x" * 12, "new": "y" * 12}),
    ("/admin/campaigns/1/preview/search", "/admin/campaigns/1/preview", {"q": "person"}),
    ("/admin/campaigns/1/test-send", "/admin/campaigns/1", {"addresses": "seed@example.org"}),
    (
        "/admin/campaigns/1/schedule",
        "/admin/campaigns/1/schedule",
        {"at": "2030-01-15T09:00", "zone": "America/New_York", "late_hours": "2"},
    ),
]
# Forms answered with a page (search results, the schedule's confirmation step), not a redirect.
ANSWERED_WITH_A_PAGE = {"/admin/campaigns/1/preview/search", "/admin/campaigns/1/schedule"}


@pytest.fixture
def db_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "admin.db"
    shutil.copyfile(_sqlite_template(), path)
    return f"sqlite:///{path}"


@pytest.fixture
def admin(make_client, clock):  # type: ignore[no-untyped-def]
    client, db, _ = make_client()
    add_user(db, "admin@clinic.example", "admin")
    add_user(db, "m@clinic.example", "marketer")
    sign_in(client, "admin@clinic.example")
    enrol(client, clock)
    _fixtures(db)
    return client, db


def _escaped_everywhere(client) -> None:  # type: ignore[no-untyped-def]
    pages = ["/admin/users", "/admin/articles", "/admin/campaigns", "/admin/campaigns/new",
             "/admin", "/admin/campaigns/1/preview", "/admin/campaigns/1/stats",
             "/admin/campaigns/1/schedule"]  # fmt: skip
    pages += [
        f"/admin/campaigns/{i}"
        for i in re.findall(r'href="/admin/campaigns/(\d+)"', client.get("/admin/campaigns").text)
    ]
    pages += [
        f"/admin/articles/{i}"
        for i in re.findall(r'href="/admin/articles/(\d+)"', client.get("/admin/articles").text)
    ]
    for path in pages:
        html = client.get(path).text
        assert SCRIPT not in html and "<img src=x" not in html, path


def test_every_field_with_every_hostile_value(admin):
    client, db = admin
    for path, page, valid in FORMS:
        for field in valid:
            for value in HOSTILE:
                token = csrf_of(client.get(page).text)
                response = client.post(
                    path, data={**valid, field: value, "csrf_token": token}, follow_redirects=False
                )
                if response.status_code in (200, 400):  # a page again: escaped
                    assert SCRIPT not in response.text and "<img src=x" not in response.text
                shown_again = path in ANSWERED_WITH_A_PAGE and response.status_code == 200
                assert shown_again or response.status_code in (303, 400, 403, 413), (
                    path,
                    field,
                    value[:20],
                    response.status_code,
                )
                if value == "A" * 1_000_000:
                    assert response.status_code == 413, (path, field)
                if "\x00" in value:
                    assert response.status_code == 400 and "NUL" in response.text
    _escaped_everywhere(client)
    with db.read() as conn:  # the SQL was data, nothing more
        assert account_store.any_user(conn)


def test_script_in_a_subject_is_stored_verbatim_and_shown_escaped(admin):
    client, _ = admin
    token = csrf_of(client.get("/admin/campaigns/1").text)
    done = client.post(
        "/admin/campaigns/1/edit",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "subject": SCRIPT + ATTRIBUTE,
            "preheader": SQL,
            "sender_name": "N",
            "sender_email": "news@mindstream.example",
        },
    )
    assert done.status_code == 303
    page = client.get("/admin/campaigns/1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#39;; DROP TABLE users; --" in page
    list_page = client.get("/admin/campaigns").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in list_page and SCRIPT not in list_page


def test_pasted_markup_and_sql_titles_are_shown_escaped(admin):
    client, db = admin
    token = csrf_of(client.get("/admin/articles").text)
    text = f"{SQL} {SCRIPT}\n\nBody {ATTRIBUTE}, and more words to make a paragraph."
    done = client.post(
        "/admin/articles/paste",
        follow_redirects=False,
        data={"csrf_token": token, "format": "text", "text": text},
    )
    assert done.status_code == 303, done.text
    stored = article_library.list_articles(db)[0]
    assert stored.title.startswith(SQL)
    _escaped_everywhere(client)


def test_bad_utf8_bodies_are_refused(admin):
    client, _ = admin
    token = csrf_of(client.get("/admin/articles").text)
    raw = client.post(
        "/admin/articles/paste",
        content=b"csrf_token=" + token.encode() + b"&text=caf\xe9+\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 400 and "URL-encoded" in raw.text
    escaped = client.post(
        "/admin/articles/paste",
        content=f"csrf_token={token}&text=caf%E9%FF",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert escaped.status_code == 400 and "not text" in escaped.text
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}'
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
        ).encode()
        + b"caf\xe9\xff"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = client.post(
        "/admin/articles/paste",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert multipart.status_code == 400
    # A file is not a form field: bytes that are not UTF-8 are read as Windows-1252 (what
    # such saved files are) and the article says so.
    upload = client.post(
        "/admin/articles/upload",
        data={"csrf_token": token},
        files={"file": ("bad.txt", b"Title\n\nA caf\xe9 paragraph, long enough for a body.\n",
                        "text/plain")},
        follow_redirects=True,
    )  # fmt: skip
    assert upload.status_code == 200
    assert "café paragraph" in upload.text and "read as Windows-1252" in upload.text
    assert client.get("/admin/articles").status_code == 200


def test_hostile_query_values_and_path_ids(admin):
    client, _ = admin
    count = client.get("/admin/campaigns/count?segment=" + quote(SCRIPT))
    assert count.status_code == 200 and SCRIPT not in count.text and "&lt;script&gt;" in count.text
    new = client.get("/admin/campaigns/new?subject=" + quote(ATTRIBUTE) + "&count=1")
    assert new.status_code == 200 and "<img src=x" not in new.text
    for path in ["/admin/campaigns/999999", "/admin/articles/999999"]:
        assert client.get(path).status_code == 404
    for path in ["/admin/campaigns/1%20OR%201=1", "/admin/campaigns/-1", "/admin/campaigns/9" * 3]:
        assert client.get(path).status_code in (400, 404)
    assert client.get("/admin/campaigns?page=" + quote(SQL)).status_code == 200
    for value in (SCRIPT, SQL, "9" * 40, "-1"):
        preview = client.get("/admin/campaigns/1/preview?as=" + quote(value))
        assert preview.status_code == 200 and SCRIPT not in preview.text  # the sample person
        frame = client.get("/admin/campaigns/1/preview/email.html?as=" + quote(value))
        assert (
            frame.status_code == 200
            and "script-src 'none'" in frame.headers["content-security-policy"]
        )
    token = csrf_of(client.get("/admin/users").text)
    for path in ["/admin/users/2/explode", "/admin/articles/1/" + quote(SCRIPT, safe="")]:
        unknown = client.post(path, data={"csrf_token": token})
        assert unknown.status_code == 404 and SCRIPT not in unknown.text
