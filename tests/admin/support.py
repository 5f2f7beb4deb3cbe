"""Helpers for the admin tests: a settable clock, accounts, signing in over HTTP (with the
login form's CSRF token and, for admins, TOTP enrolment), and reading tokens out of pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp

from newsletter.accounts.service import create_user
from newsletter.storage.database import Database

PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


@dataclass
class Clock:
    """`app.state.clock`: unix seconds, moved by tests."""

    now: datetime = START

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def add_user(db: Database, email: str, role: str, password: str = PASSWORD) -> int:
    return create_user(db, email, role, password, actor="test", now=START)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client, email: str, password: str = PASSWORD, **headers: str):  # type: ignore[no-untyped-def]
    page = client.get("/admin/login")
    assert page.status_code == 200
    return client.post(
        "/admin/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
        headers=headers,
        follow_redirects=False,
    )


def enrol(client, clock: Clock) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Finish an admin's first sign-in: scan (read the secret), confirm a code."""
    page = client.get("/admin/enrol")
    assert page.status_code == 200, page.text
    secret = _SECRET.search(page.text).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(secret).at(clock.now)
    done = client.post("/admin/enrol", data={"csrf_token": csrf_of(page.text), "code": code})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5})</li>", done.text)
    return secret, codes


def post(client, path: str, page_path: str | None = None, **data: str):  # type: ignore[no-untyped-def]
    """POST a form with the CSRF token of the page it is on."""
    page = client.get(page_path or path)
    return client.post(path, data={"csrf_token": csrf_of(page.text), **data},
                       follow_redirects=False)  # fmt: skip
