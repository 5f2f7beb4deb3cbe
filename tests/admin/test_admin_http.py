"""The admin over HTTP: every route needs a session, roles are enforced on every endpoint
(S-11, S-12), CSRF and Origin (S-10), session fixation, flags and expiry (S-15), lockout and
unlock (S-13), headers, and nothing loaded from another host."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta

import pyotp
import pytest
from fastapi.routing import APIRoute

from newsletter.accounts.roles import Action, allowed
from newsletter.services import article_library
from tests.admin.support import (
    PASSWORD,
    START,
    add_user,
    csrf_of,
    enrol,
    post,
    sign_in,
)
from tests.audience_db import _sqlite_template
from tests.seed import REPO, SEED_FORMATS


@pytest.fixture
def db_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """HTTP behaviour does not depend on the database: SQLite only here (the services these
    pages call are tested on both databases)."""
    path = tmp_path / "admin.db"
    shutil.copyfile(_sqlite_template(), path)
    return f"sqlite:///{path}"


PUBLIC = {("GET", "/admin/login"), ("POST", "/admin/login")}
ANY_SESSION = None  # any signed-in person, whatever the role
# Every admin route and the action it needs; the walk below fails if a route is missing here.
ROUTES: dict[tuple[str, str], Action | None] = {
    ("GET", "/admin"): Action.CAMPAIGNS_VIEW,
    ("GET", "/admin/login/2fa"): ANY_SESSION,
    ("POST", "/admin/login/2fa"): ANY_SESSION,
    ("GET", "/admin/enrol"): ANY_SESSION,
    ("POST", "/admin/enrol"): ANY_SESSION,
    ("GET", "/admin/logout"): ANY_SESSION,
    ("POST", "/admin/logout"): ANY_SESSION,
    ("GET", "/admin/account"): Action.ACCOUNT_SELF,
    ("POST", "/admin/account/password"): Action.ACCOUNT_SELF,
    ("GET", "/admin/users"): Action.USERS_MANAGE,
    ("POST", "/admin/users"): Action.USERS_MANAGE,
    ("POST", "/admin/users/{user_id}/{change}"): Action.USERS_MANAGE,
    ("GET", "/admin/articles"): Action.ARTICLES_VIEW,
    ("POST", "/admin/articles/upload"): Action.ARTICLES_EDIT,
    ("POST", "/admin/articles/paste"): Action.ARTICLES_EDIT,
    ("POST", "/admin/articles/url"): Action.ARTICLES_EDIT,
    ("GET", "/admin/articles/{article_id}"): Action.ARTICLES_VIEW,
    ("POST", "/admin/articles/{article_id}/{change}"): Action.ARTICLES_EDIT,
    ("GET", "/admin/campaigns"): Action.CAMPAIGNS_VIEW,
    ("GET", "/admin/campaigns/new"): Action.CAMPAIGNS_EDIT,
    ("GET", "/admin/campaigns/count"): Action.CAMPAIGNS_EDIT,
    ("POST", "/admin/campaigns"): Action.CAMPAIGNS_EDIT,
    ("GET", "/admin/campaigns/{campaign_id}"): Action.CAMPAIGNS_VIEW,
    ("POST", "/admin/campaigns/{campaign_id}/edit"): Action.CAMPAIGNS_EDIT,
    ("POST", "/admin/campaigns/{campaign_id}/submit"): Action.CAMPAIGNS_EDIT,
    ("POST", "/admin/campaigns/{campaign_id}/approve"): Action.CAMPAIGNS_APPROVE,
    ("POST", "/admin/campaigns/{campaign_id}/reject"): Action.CAMPAIGNS_APPROVE,
    ("POST", "/admin/campaigns/{campaign_id}/send"): Action.CAMPAIGNS_SEND,
    ("POST", "/admin/campaigns/{campaign_id}/duplicate"): Action.CAMPAIGNS_EDIT,
    ("POST", "/admin/campaigns/{campaign_id}/delete"): Action.CAMPAIGNS_EDIT,
    ("GET", "/admin/campaigns/{campaign_id}/preview"): Action.CAMPAIGNS_PREVIEW,
    ("GET", "/admin/campaigns/{campaign_id}/preview/email.html"): Action.CAMPAIGNS_PREVIEW,
    ("POST", "/admin/campaigns/{campaign_id}/preview/search"): Action.CAMPAIGNS_PREVIEW,
    ("POST", "/admin/campaigns/{campaign_id}/test-send"): Action.CAMPAIGNS_TEST_SEND,
    ("GET", "/admin/campaigns/{campaign_id}/schedule"): Action.CAMPAIGNS_SEND,
    ("POST", "/admin/campaigns/{campaign_id}/schedule"): Action.CAMPAIGNS_SEND,
    ("POST", "/admin/campaigns/{campaign_id}/unschedule"): Action.CAMPAIGNS_SEND,
    ("GET", "/admin/campaigns/{campaign_id}/progress"): Action.CAMPAIGNS_VIEW,
    ("POST", "/admin/campaigns/{campaign_id}/pause"): Action.CAMPAIGNS_SEND,
    ("POST", "/admin/campaigns/{campaign_id}/resume"): Action.CAMPAIGNS_SEND,
    ("POST", "/admin/campaigns/{campaign_id}/cancel"): Action.CAMPAIGNS_SEND,
    ("GET", "/admin/campaigns/{campaign_id}/stats"): Action.CAMPAIGNS_VIEW,
    ("GET", "/admin/campaigns/{campaign_id}/review"): Action.CAMPAIGNS_REVIEW,
    ("POST", "/admin/campaigns/{campaign_id}/review"): Action.CAMPAIGNS_REVIEW,
}
STAGED = {"/admin/login/2fa", "/admin/enrol"}  # only for a half-signed-in admin


def _admin_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every (method, path) under /admin, through included routers (none has a prefix)."""
    found = set()
    stack = list(app.routes)
    while stack:
        route = stack.pop()
        if hasattr(route, "original_router"):  # FastAPI ≥ 0.13x keeps included routers
            stack.extend(route.original_router.routes)
        elif isinstance(route, APIRoute) and route.path.startswith("/admin"):
            found |= {(method, route.path) for method in route.methods}
    return found


# Each {change} route is walked with every change it accepts.
CHANGES = {
    "/admin/users/{user_id}/{change}": ["role", "disable", "enable", "password", "unlock"],
    "/admin/articles/{article_id}/{change}": ["reimport", "archive", "restore"],
}


def _urls(path: str) -> list[str]:
    concrete = re.sub(r"\{(user_id|article_id|campaign_id)\}", "1", path)
    return [concrete.replace("{change}", c) for c in CHANGES.get(path, [""])]


def test_every_route_is_listed_and_needs_a_session(make_client):
    client, _, app = make_client()
    routes = _admin_routes(app)
    assert routes - PUBLIC == set(ROUTES), "a new admin route needs its action in ROUTES"
    for method, path in sorted(ROUTES):
        for url in _urls(path):
            response = client.request(method, url, data={"csrf_token": "x"}, follow_redirects=False)
            assert response.status_code == 303, (method, url, response.status_code)
            assert response.headers["location"] == "/admin/login"
    hx = client.get("/admin/campaigns", headers={"HX-Request": "true"}, follow_redirects=False)
    assert (hx.status_code, hx.headers["HX-Redirect"]) == (401, "/admin/login")
    assert client.get("/admin/login").status_code == 200


def _signed_in(make_client, clock, role: str):  # type: ignore[no-untyped-def]
    client, db, _ = make_client()
    add_user(db, f"{role}@clinic.example", role)
    assert sign_in(client, f"{role}@clinic.example").status_code == 303
    if role == "admin":
        enrol(client, clock)
    return client, db


def _fixtures(db) -> None:  # type: ignore[no-untyped-def]
    """An article and a draft campaign (id 1) for the routes with ids."""
    from newsletter.config import load_settings
    from newsletter.services.campaign_drafts import create_from_library

    article_library.add_file(db, SEED_FORMATS["markdown"], site_url=None, actor="t", now=START)
    settings = load_settings(database_url=str(db.engine.url), audiences_dir=REPO / "audiences")
    create_from_library(db, settings, [1], segment="everyone", now=START)


@pytest.mark.parametrize("role", ["admin", "marketer", "staff"])
def test_role_by_endpoint_matrix_is_enforced_server_side(make_client, clock, role):
    client, db = _signed_in(make_client, clock, role)
    _fixtures(db)
    token = csrf_of(client.get("/admin/account").text)
    for (method, path), action in sorted(ROUTES.items()):
        if path in STAGED or path == "/admin/logout":
            continue
        may = action is None or allowed(role, action)
        for url in _urls(path):
            response = client.request(
                method, url, data={"csrf_token": token}, follow_redirects=False
            )
            refused_by_role = "Your role does not allow this." in response.text
            if may:  # it may still be refused by a rule (approving an unsubmitted draft: 403)
                assert not refused_by_role, (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
                assert refused_by_role and "<main" in response.text  # the branded page
            assert response.status_code < 500, (role, method, url)


def test_staff_sees_no_send_or_edit_buttons(make_client, clock):
    client, db = _signed_in(make_client, clock, "staff")
    _fixtures(db)
    page = client.get("/admin/campaigns/1").text
    for marker in (
        "send-button",
        "edit-form",
        "submit-button",
        "approve-button",
        "duplicate-button",
        "delete-button",
        "New campaign",
    ):
        assert marker not in page
    assert "Add the article" not in client.get("/admin/articles").text


def test_csrf_and_origin_are_enforced(make_client, clock):
    client, db = _signed_in(make_client, clock, "marketer")
    page = client.get("/admin/articles")
    token = csrf_of(page.text)
    body = {"text": "# Title\n\nBody", "format": "markdown"}
    assert client.post("/admin/articles/paste", data=body).status_code == 403
    assert (
        client.post("/admin/articles/paste", data={**body, "csrf_token": "forged"}).status_code
        == 403
    )
    foreign = client.post(
        "/admin/articles/paste",
        data={**body, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and "another site" in foreign.text
    assert (
        client.post(
            "/admin/articles/paste",
            data={**body, "csrf_token": token},
            headers={"Referer": "https://evil.example/x"},
        ).status_code
        == 403
    )
    assert article_library.list_articles(db) == []
    ok = client.post(
        "/admin/articles/paste",
        data={**body, "csrf_token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    via_header = client.post(
        "/admin/articles/paste", data=body, follow_redirects=False, headers={"X-CSRF-Token": token}
    )  # the HTMX way
    assert via_header.status_code == 303
    assert len(article_library.list_articles(db)) == 2


def test_login_form_has_its_own_csrf_token(make_client):
    client, db, _ = make_client()
    add_user(db, "m@clinic.example", "marketer")
    page = client.get("/admin/login")
    assert 'name="csrf_token"' in page.text
    assert (
        client.post(
            "/admin/login", data={"email": "m@clinic.example", "password": PASSWORD}
        ).status_code
        == 403
    )
    other = make_client()[0]  # another browser's token does not work with this cookie
    stolen = csrf_of(other.get("/admin/login").text)
    refused = client.post(
        "/admin/login",
        data={"csrf_token": stolen, "email": "m@clinic.example", "password": PASSWORD},
    )
    assert refused.status_code == 403


def test_session_fixation_is_impossible(make_client, clock):
    client, db, _ = make_client()
    add_user(db, "m@clinic.example", "marketer")
    add_user(db, "s@clinic.example", "staff")
    client.cookies.set("nl_admin", "attacker-chosen-session-id", domain="testserver.local")
    first = sign_in(client, "m@clinic.example")
    issued = client.cookies.get("nl_admin")
    assert issued and issued != "attacker-chosen-session-id"
    assert "HttpOnly" in first.headers["set-cookie"]
    assert "SameSite=strict" in first.headers["set-cookie"]
    assert "Secure" not in first.headers["set-cookie"]  # http public URL
    # a planted, valid session cookie is replaced at sign-in, and ended
    other = make_client()[0]
    page = other.get("/admin/login")
    other.cookies.set("nl_admin", issued, domain="testserver.local")
    done = other.post(
        "/admin/login",
        data={"csrf_token": csrf_of(page.text), "email": "s@clinic.example", "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303 and other.cookies.get("nl_admin") != issued
    replay = make_client()[0]
    replay.cookies.set("nl_admin", issued, domain="testserver.local")
    assert replay.get("/admin/campaigns", follow_redirects=False).status_code == 303


def test_admin_second_factor_gets_a_new_session_id(make_client, clock):
    client, db, _ = make_client()
    add_user(db, "a@clinic.example", "admin")
    sign_in(client, "a@clinic.example")
    half = client.cookies.get("nl_admin")
    assert client.get("/admin/campaigns", follow_redirects=False).headers["location"] == (
        "/admin/enrol"
    )
    assert client.get("/admin/login/2fa", follow_redirects=False).headers["location"] == (
        "/admin/enrol"
    )
    secret, codes = enrol(client, clock)
    assert len(codes) == 10 and client.cookies.get("nl_admin") != half
    assert client.get("/admin/users").status_code == 200
    for page in ("/admin/enrol", "/admin/login/2fa", "/admin/login"):  # no loop once signed in
        moved = client.get(page, follow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (303, "/admin/campaigns")
    post(client, "/admin/logout", "/admin/account")
    clock.advance(minutes=1)
    assert sign_in(client, "a@clinic.example").headers["location"] == "/admin/login/2fa"
    page = client.get("/admin/login/2fa")
    wrong = client.post(
        "/admin/login/2fa", data={"csrf_token": csrf_of(page.text), "code": "000000"}
    )
    assert wrong.status_code == 400
    right = client.post(
        "/admin/login/2fa",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page.text), "code": pyotp.TOTP(secret).at(clock.now)},
    )
    assert right.headers["location"] == "/admin/campaigns"


def test_https_sites_get_secure_host_cookies_and_hsts(make_client):
    client, db, _ = make_client(public_url="https://news.clinic.example")
    add_user(db, "m@clinic.example", "marketer")
    page = client.get("https://news.clinic.example/admin/login")
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    done = client.post(
        "https://news.clinic.example/admin/login",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page.text), "email": "m@clinic.example", "password": PASSWORD},
    )
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("__Host-nl_admin=") and "Secure" in cookie and "Path=/" in cookie


def test_idle_and_absolute_session_expiry(make_client, clock):
    client, _ = _signed_in(make_client, clock, "marketer")
    clock.advance(minutes=29)
    assert client.get("/admin/campaigns").status_code == 200
    clock.advance(minutes=30)
    assert client.get("/admin/campaigns", follow_redirects=False).status_code == 303
    sign_in(client, "marketer@clinic.example")
    signed_at, ended_at = clock.now, None
    for _ in range(30):  # a request every 29 minutes keeps it from idling out
        clock.advance(minutes=29)
        if client.get("/admin/campaigns", follow_redirects=False).status_code != 200:
            ended_at = clock.now
            break
    assert ended_at is not None
    assert timedelta(hours=12) <= ended_at - signed_at < timedelta(hours=12, minutes=29)


def test_lockout_over_http_and_an_admin_unlocks(make_client, clock):
    admin, db = _signed_in(make_client, clock, "admin")
    add_user(db, "m@clinic.example", "marketer")
    victim = make_client()[0]
    for _ in range(10):
        assert sign_in(victim, "m@clinic.example", "wrong password!").status_code == 400
        clock.advance(seconds=61)
    locked = sign_in(victim, "m@clinic.example")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "locked" in locked.text
    users = admin.get("/admin/users").text
    assert "locked until" in users
    user_id = re.search(r'id="user-(\d+)">\s*<td>m@clinic.example', users).group(1)
    done = post(admin, f"/admin/users/{user_id}/unlock", "/admin/users")
    assert done.status_code == 303
    assert sign_in(victim, "m@clinic.example").status_code == 303


def test_security_headers_and_no_external_hosts(make_client, clock):
    client, db = _signed_in(make_client, clock, "admin")
    _fixtures(db)
    pages = [
        "/admin/campaigns",
        "/admin/campaigns/1",
        "/admin/campaigns/new",
        "/admin/articles",
        "/admin/articles/1",
        "/admin/users",
        "/admin/account",
    ]
    external = re.compile(r"""(src|href|action)=["']?(https?:)?//""", re.I)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        html = re.sub(
            r'<article class="card article-body">.*?</article>', "", response.text, flags=re.S
        )  # the article's own links, shown as content
        assert not external.search(html), path
        assert "<script>" not in html and " on" + "click=" not in html
        config = re.search(r"name=\"htmx-config\" content='([^']+)'", html).group(1)
        assert json.loads(config)["allowEval"] is False
        assert json.loads(config)["includeIndicatorStyles"] is False
    static = client.get("/admin/static/htmx.min.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def test_vendored_htmx_matches_package_json():
    declared = json.loads((REPO / "package.json").read_text())["dependencies"]["htmx.org"]
    static = REPO / "newsletter" / "web" / "admin" / "static"
    assert f'version:"{declared}"' in (static / "htmx.min.js").read_text()
    assert "Zero-Clause BSD" in (static / "htmx.LICENSE.txt").read_text()
    installed = REPO / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
    if installed.exists():  # after `npm ci`: the vendored copy is that very file
        assert installed.read_bytes() == (static / "htmx.min.js").read_bytes()


def test_the_admin_can_be_left_out(make_client):
    client, _, app = make_client(admin_enabled=False)
    assert client.get("/admin/login").status_code == 404
    assert not _admin_routes(app)
    assert client.get("/u/not-a-token").status_code == 404  # the public routes stay


def test_send_after_approval_is_audited_with_the_sender(make_client, clock):
    client, db = _signed_in(make_client, clock, "marketer")
    _fixtures(db)
    from newsletter.accounts.roles import Role
    from newsletter.accounts.service import Actor
    from newsletter.domain.approval import Step
    from newsletter.services.approval import take_step
    from newsletter.storage import audit_log

    refused = post(client, "/admin/campaigns/1/send", "/admin/campaigns/1")
    assert refused.status_code == 403 and "not approved" in refused.text
    admin = Actor(add_user(db, "a@clinic.example", "admin"), "a@clinic.example", Role.ADMIN)
    assert post(client, "/admin/campaigns/1/submit", "/admin/campaigns/1").status_code == 303
    take_step(db, 1, Step.APPROVE, admin)
    sent = post(client, "/admin/campaigns/1/send", "/admin/campaigns/1")
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=sent")
    page = client.get("/admin/campaigns/1").text
    assert 'id="campaign-status">scheduled' in page
    with db.read() as conn:
        last = audit_log.recent(conn, 1)[0]
    assert (last.actor, last.action, last.target) == (
        "user:marketer@clinic.example",
        "campaign-send",
        "campaign:1",
    )
