"""`newsletter users …`, `newsletter articles …` and `newsletter campaign
create|submit|approve|reject --as`, in process through the real error mapping, on both
databases."""

from __future__ import annotations

import io
import sys

import pytest

from newsletter.accounts import login
from newsletter.services import article_library
from newsletter.storage import audit_log
from newsletter.storage.database import Database
from tests.admin.support import PASSWORD, START
from tests.seed import REPO, SEED_FORMATS


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(monkeypatch, capsys, db_url):  # type: ignore[no-untyped-def]
    """`cli(*args, stdin=…)` runs `newsletter ARGS` with the test database."""
    from newsletter.cli import load, run

    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_AUDIENCES_DIR", str(REPO / "audiences"))
    app = load()

    def invoke(*args: str, stdin: str = "") -> Result:
        monkeypatch.setattr(sys, "argv", ["newsletter", *map(str, args)])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        code = run(app)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def test_users_lifecycle(cli, db):
    created = cli("users", "create", "Ann@Clinic.example", "--role", "admin", stdin=PASSWORD + "\n")
    assert created.code == 0 and "Created admin account ann@clinic.example" in created.out
    assert cli("users", "create", "m@clinic.example", "--role", "marketer",
               stdin=PASSWORD + "\n").code == 0  # fmt: skip
    listing = cli("users", "list")
    assert "ann@clinic.example" in listing.out and "marketer" in listing.out
    assert cli("users", "set-role", "m@clinic.example", "--role", "staff").code == 0
    assert cli("users", "disable", "m@clinic.example").code == 0
    with pytest.raises(login.LoginRefused):
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    assert cli("users", "enable", "m@clinic.example").code == 0
    reset = cli("users", "reset-password", "m@clinic.example", stdin="another long secret\n")
    assert reset.code == 0
    login.sign_in(db, email="m@clinic.example", password="another long secret", address=None,
                  now=START)  # fmt: skip
    assert "was not locked" in cli("users", "unlock", "m@clinic.example").out
    with db.read() as conn:
        actions = [(r.actor.split(":")[0], r.action) for r in audit_log.recent(conn, 20)]
    assert ("staff", "role-changed") in actions and ("staff", "password-reset") in actions


def test_users_errors_are_messages_with_exit_2(cli):
    short = cli("users", "create", "a@clinic.example", "--role", "admin", stdin="short\n")
    assert short.code == 2 and "at least 12" in short.err and "Traceback" not in short.err
    assert cli("users", "create", "a@clinic.example", "--role", "owner").code == 2
    empty = cli("users", "create", "a@clinic.example", "--role", "admin", stdin="")
    assert empty.code == 2 and "no password on standard input" in empty.err
    assert cli("users", "disable", "ghost@clinic.example").code == 2
    cli("users", "create", "a@clinic.example", "--role", "admin", stdin=PASSWORD + "\n")
    last = cli("users", "set-role", "a@clinic.example", "--role", "staff")
    assert last.code == 2 and "last active admin" in last.err
    # a password is never an argument
    assert cli("users", "create", "b@clinic.example", "--role", "staff", "--password",
               "x" * 12).code == 2  # fmt: skip


def test_articles_add_list_show(cli, tmp_path):
    added = cli("articles", "add", str(SEED_FORMATS["markdown"]))
    assert added.code == 0 and added.out.strip().splitlines()[-1] == "1"
    pasted = cli("articles", "add", "-", "--format", "markdown", stdin="# Pasted\n\nText here.")
    assert pasted.code == 0 and pasted.out.strip().splitlines()[-1] == "2"
    listing = cli("articles", "list")
    assert "Pasted" in listing.out and "markdown" in listing.out
    shown = cli("articles", "show", "1")
    assert shown.code == 0 and "Neuroplasticity" in shown.out
    assert cli("articles", "show", "99").code == 2
    missing = cli("articles", "add", str(tmp_path / "nope.md"))
    assert missing.code == 2 and "no such file" in missing.err
    refused = cli("articles", "add", "http://127.0.0.1:9/post")
    assert refused.code == 2 and "loopback" in refused.err


def test_campaign_from_a_file_adds_the_article_first_and_approval_from_the_cli(cli, db):
    made = cli("campaign", "create", "--segment", "everyone", "--article",
               str(SEED_FORMATS["markdown"]))  # fmt: skip
    assert made.code == 0 and made.out.strip().splitlines()[-1] == "1"
    stored = article_library.list_articles(db)
    assert [(a.source_kind, a.source) for a in stored] == [
        ("upload", "neuroplasticity-ketamine.md")
    ]
    again = cli("campaign", "create", "--segment", "everyone", "--article-id", "1")
    assert again.out.strip().splitlines()[-1] == "2"
    for email, role in [("a1@clinic.example", "admin"), ("a2@clinic.example", "admin"),
                        ("m@clinic.example", "marketer")]:  # fmt: skip
        cli("users", "create", email, "--role", role, stdin=PASSWORD + "\n")
    blocked = cli("campaign", "send", "1", "--yes")
    assert blocked.code == 2 and "not approved" in blocked.err
    staff = cli("campaign", "submit", "1", "--as", "nobody@clinic.example")
    assert staff.code == 2 and "no account" in staff.err
    assert cli("campaign", "submit", "1", "--as", "m@clinic.example").code == 0
    denied = cli("campaign", "approve", "1", "--as", "m@clinic.example")
    assert denied.code == 2 and "may not approve" in denied.err
    rejected = cli("campaign", "reject", "1", "--as", "a1@clinic.example", "--comment", "tone")
    assert rejected.code == 0 and "rejected" in rejected.out
    cli("campaign", "submit", "1", "--as", "m@clinic.example")
    assert cli("campaign", "approve", "1", "--as", "a1@clinic.example").code == 0
    own = cli("campaign", "create", "--segment", "everyone", "--article-id", "1", "--as",
              "a1@clinic.example")  # fmt: skip
    own_id = own.out.strip().splitlines()[-1]
    cli("campaign", "submit", own_id, "--as", "a1@clinic.example")
    second = cli("campaign", "approve", own_id, "--as", "a1@clinic.example")
    assert second.code == 2 and "another admin" in second.err
    assert cli("campaign", "approve", own_id, "--as", "a2@clinic.example").code == 0


def test_database_without_accounts_sends_as_before(cli, db: Database):
    cli("campaign", "create", "--segment", "everyone", "--article", str(SEED_FORMATS["text"]))
    sent = cli("campaign", "send", "1", "--yes")
    assert sent.code == 0, sent.err
    assert "sent" in sent.out
