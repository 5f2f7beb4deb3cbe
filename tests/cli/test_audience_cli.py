"""The 'done when' flow through the real CLI, on SQLite and PostgreSQL: import the sample
audience, define a segment, count it, export it, erase a person. Plus refusals and exit codes."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import shutil

import pytest
from sqlalchemy import text

from newsletter.storage.database import Database
from tests.audience_db import db, db_url  # noqa: F401
from tests.seed import REPO

SAMPLE = REPO / "audiences" / "sample-subscribers.csv"
CONSENT = "I agree to receive the Mindstream Medicine newsletter."


@pytest.fixture
def workdir(tmp_path, monkeypatch, db_url):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    audiences = tmp_path / "audiences"
    audiences.mkdir()
    for name in ("everyone.yaml", "research-readers.yaml", "attributes.yaml"):
        if (REPO / "audiences" / name).exists():
            shutil.copy(REPO / "audiences" / name, audiences / name)
    return tmp_path


def sample_csv(workdir):
    return shutil.copy(SAMPLE, workdir / "sample.csv")


def test_done_when_flow(cli, workdir):
    assert cli("lists", "create", "newsletter").code == 0
    path = sample_csv(workdir)
    result = cli("subscribers", "import", path, "--list", "newsletter", "--consent", CONSENT)
    assert result.code == 0, result.err
    summary = " ".join(result.out.split())
    assert "40 added, 0 updated, 0 unchanged, 0 skipped (unsubscribed/suppressed), 0 rejected." in (
        summary
    )
    again = cli("subscribers", "import", path, "--list", "newsletter", "--consent", CONSENT)
    assert " 0 added, 0 updated" in again.out.replace("\n", " ")

    (workdir / "audiences" / "readers.yaml").write_text(
        "description: research readers\nrule:\n  all:\n    - topic: research-news\n"
        "    - signed_up_within_days: 30\n"
    )
    counted = cli("segments", "count", "readers")
    assert counted.code == 0 and " ms)" in counted.out
    number = int(counted.out.split()[0])
    assert number == 17  # the sample's research-news readers, all signed up today
    assert cli("segments", "list").code == 0
    assert cli("segments", "show", "readers").code == 0

    exported = cli("subscribers", "export", "--segment", "readers")
    assert exported.code == 0
    rows = list(csv.DictReader(io.StringIO(exported.out.lstrip("\ufeff"))))
    assert len(rows) == number and "research-news" in rows[0]["topics"]
    out = workdir / "all.csv"
    assert cli("subscribers", "export", "--out", out).code == 0
    assert out.read_text(encoding="utf-8-sig").startswith("email,")

    victim = rows[0]["email"]
    shown = cli("subscribers", "show", victim, "--json")
    assert json.loads(shown.out)["email"] == victim
    dsar = cli("subscribers", "gdpr-export", victim)
    assert json.loads(dsar.out)["consent_history"][0]["consent_text"] == CONSENT
    assert cli("subscribers", "erase", victim, "--yes").code == 0
    assert cli("subscribers", "show", victim).code == 2
    assert int(cli("segments", "count", "readers").out.split()[0]) == number - 1
    reimport = cli("subscribers", "import", path, "--list", "newsletter", "--consent", CONSENT)
    assert "1 skipped" in reimport.out.replace("\n", " ")

    audit = cli("audit", "list", "--limit", "100")
    assert audit.code == 0
    actions = [line.split("│")[3].strip() for line in audit.out.splitlines() if "│ staff:" in line]
    assert actions == ["import", "erase", "gdpr-export", "export", "export", "import", "import"]
    assert victim not in audit.out  # opaque targets only


def test_staff_commands(cli, workdir):
    cli("lists", "create", "events", "--double-opt-in")
    added = cli("subscribers", "add", "vic@example.com", "--list", "events", "--consent", "Yes",
                "--first-name", "<b>Vic</b>", "--tag", "vip")  # fmt: skip
    assert added.code == 0 and "pending" in added.out and "outbox" in added.out
    raw = next((workdir / "outbox").glob("*.eml")).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "vic@example.com"
    body = message.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"/confirm/([A-Za-z0-9_.-]+)", body).group(1)
    confirmed = cli("subscribers", "confirm", token)
    assert confirmed.code == 0 and "active" in confirmed.out
    assert cli("subscribers", "confirm", "forged-token").code == 2
    assert cli("subscribers", "edit", "vic@example.com", "--last-name", "Lee").code == 0
    assert "vip, x" in cli("subscribers", "tag", "vic@example.com", "--add", "x").out
    assert cli("subscribers", "unsubscribe", "vic@example.com").code == 0
    assert cli("subscribers", "resubscribe", "vic@example.com", "--consent", "Again").code == 0
    assert "<b>Vic</b>" in cli("subscribers", "show", "vic@example.com").out
    assert "events" in cli("lists", "list").out
    cli("lists", "create", "news")
    assert cli("lists", "add", "news", "vic@example.com", "--consent", "News too").code == 0
    assert cli("lists", "remove", "news", "vic@example.com").code == 0
    assert "news (unsubscribed)" in cli("subscribers", "show", "vic@example.com").out


def test_errors_are_messages_with_exit_2_not_tracebacks(cli, workdir):
    cli("lists", "create", "newsletter")
    missing = cli("subscribers", "import", workdir / "nope.csv", "--list", "newsletter",
                  "--consent", CONSENT)  # fmt: skip
    assert missing.code == 2 and "Traceback" not in missing.err and "nope.csv" in missing.err
    junk = workdir / "junk.csv"
    junk.write_bytes(b"\x00\xff\xfe" * 500)
    result = cli("subscribers", "import", junk, "--list", "newsletter", "--consent", CONSENT)
    assert result.code == 2 and "Traceback" not in result.err
    no_consent = cli("subscribers", "import", sample_csv(workdir), "--list", "newsletter")
    assert no_consent.code == 2 and "consent" in no_consent.err
    unknown = cli("segments", "count", "nobody")
    assert unknown.code == 2 and "unknown segment 'nobody'" in unknown.err
    (workdir / "audiences" / "bad.yaml").write_text("rule:\n  attribute: shoe_size\n  equals: 9\n")
    bad = cli("segments", "count", "bad")
    assert bad.code == 2 and "line 2" in bad.err and "shoe_size" in bad.err


def test_outdated_schema_is_refused(cli, workdir, db_url):  # noqa: F811
    database = Database.from_url(db_url)
    with database.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_old'"))
    database.close()
    result = cli("lists", "list")
    assert result.code == 2
    assert "outdated" in result.err and "newsletter db upgrade" in result.err
    assert cli("db", "current").code == 1
