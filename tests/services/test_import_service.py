"""CSV import: idempotent upserts, consent records, never reviving anyone, bad files, resume."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.audiences.attributes import AttributeSpec
from newsletter.domain.subscribers import SuppressionReason
from newsletter.errors import NewsletterError, ValidationError
from newsletter.services.imports import import_subscribers
from newsletter.services.lists import create_list
from newsletter.services.privacy import erase_subscriber
from newsletter.services.subscribers import subscriber_profile
from newsletter.services.suppressions import suppress_in, unsubscribe
from newsletter.storage.tables import (
    consent_records,
    imports,
    subscriber_attributes,
    subscribers,
    subscriptions,
)

KEY = "k" * 32
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
CONSENT = "Yes, send me the Mindstream newsletter (form v3)."
SPECS = {"city": AttributeSpec("city", "string", "City, for event invitations")}
CSV = (
    "email,first_name,last_name,topics,tags,city,shoe_size\n"
    "Ann@Example.com,Ann,Lee,research-news|events,vip,Philadelphia,9\n"
    'bob@example.com,"Robert\'); DROP TABLE subscribers;--",<img src=x onerror=alert(1)>,'
    "events,,Boston,10\n"
    "not-an-email,X,Y,,,,\n"
    "carol@example.org,Carol,,research-news,,=cmd|' /C calc'!A0,\n"
)


def write_csv(tmp_path: Path, body: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(body, str):
        path.write_text(body, encoding="utf-8")
    else:
        path.write_bytes(body)
    return path


def run_import(db, path, **kw):
    options = {"key": KEY, "list_name": "newsletter", "consent_text": CONSENT, "specs": SPECS,
               "now": NOW}  # fmt: skip
    options.update(kw)
    return import_subscribers(db, path, **options)


def count(db, table, *where) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(*where))


@pytest.fixture
def newsletter(db):
    create_list(db, "newsletter", now=NOW)
    return db


def test_import_adds_people_with_consent_and_reports_rejects(newsletter, tmp_path):
    db = newsletter
    path = write_csv(tmp_path, CSV)
    summary = run_import(db, path)
    assert (summary.added, summary.updated, summary.unchanged, summary.rejected) == (3, 0, 0, 1)
    assert summary.ignored_columns == ["shoe_size"]
    assert summary.rejects_path == tmp_path / "people.csv.rejects.csv"
    rejects = summary.rejects_path.read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0] == "line,email,reason" and rejects[1].startswith("4,not-an-email,")
    bob = subscriber_profile(db, "bob@example.com")
    assert bob["first_name"] == "Robert'); DROP TABLE subscribers;--"
    assert bob["last_name"] == "<img src=x onerror=alert(1)>"
    assert bob["attributes"] == {"city": "Boston"} and bob["lists"] == {"newsletter": "active"}
    assert subscriber_profile(db, "ann@example.com")["topics"] == ["events", "research-news"]
    assert count(db, consent_records, consent_records.c.event == "imported") == 3
    with db.read() as conn:
        sources = set(conn.scalars(select(consent_records.c.source)))
    assert sources == {f"import:{summary.batch_id} by cli"}


def test_reimport_is_idempotent_and_updates_only_changes(newsletter, tmp_path):
    db = newsletter
    path = write_csv(tmp_path, CSV)
    run_import(db, path)
    again = run_import(db, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert count(db, consent_records) == 3
    changed = write_csv(tmp_path, "email,first_name,city\nann@example.com,Annie,Philadelphia\n",
                        "changed.csv")  # fmt: skip
    summary = run_import(db, changed)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 0)
    assert subscriber_profile(db, "ann@example.com")["first_name"] == "Annie"


def test_import_never_resubscribes_unsubscribed_bounced_or_suppressed(newsletter, tmp_path):
    db = newsletter
    path = write_csv(tmp_path, CSV)
    run_import(db, path)
    unsubscribe(db, key=KEY, email="ann@example.com", source="t", now=NOW)
    with db.write() as conn:
        suppress_in(
            conn,
            key=KEY,
            email="bob@example.com",
            reason=SuppressionReason.HARD_BOUNCE,
            source="webhook",
            now=NOW,
        )
    with db.write() as conn:
        suppress_in(
            conn,
            key=KEY,
            email="zed@example.com",
            reason=SuppressionReason.COMPLAINT,
            source="webhook",
            now=NOW,
        )
    more = write_csv(tmp_path, CSV + "zed@example.com,Zed,,,,,\n", "more.csv")
    summary = run_import(db, more)
    assert (summary.added, summary.skipped, summary.unchanged) == (0, 3, 1)
    assert subscriber_profile(db, "ann@example.com")["status"] == "unsubscribed"
    assert subscriber_profile(db, "bob@example.com")["status"] == "bounced"
    assert count(db, subscribers, subscribers.c.email == "zed@example.com") == 0


def test_erased_address_cannot_be_imported_again(newsletter, tmp_path):
    db = newsletter
    path = write_csv(tmp_path, CSV)
    run_import(db, path)
    erase_subscriber(db, key=KEY, email="ANN@example.com ", source="staff:t", now=NOW)
    assert count(db, subscribers, subscribers.c.email == "ann@example.com") == 0
    summary = run_import(db, path)
    assert summary.skipped == 1 and summary.added == 0
    assert count(db, subscribers, subscribers.c.email == "ann@example.com") == 0


def test_double_opt_in_list_makes_new_people_pending_unless_confirmed(db, tmp_path):
    create_list(db, "events", double_opt_in=True, now=NOW)
    path = write_csv(tmp_path, CSV)
    run_import(db, path, list_name="events")
    assert subscriber_profile(db, "ann@example.com")["status"] == "pending"
    assert count(db, subscriptions, subscriptions.c.status == "pending") == 3
    summary = run_import(db, path, list_name="events", consent_confirmed=True)
    assert summary.updated == 3
    assert subscriber_profile(db, "ann@example.com")["status"] == "active"
    with db.read() as conn:
        sources = set(conn.scalars(select(consent_records.c.source)))
    assert any(s.endswith(":consent-confirmed by cli") for s in sources)


def test_import_without_consent_is_refused(newsletter, tmp_path):
    with pytest.raises(ValidationError, match="consent"):
        run_import(newsletter, write_csv(tmp_path, CSV), consent_text="  ")
    assert count(newsletter, subscribers) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"first_name,last_name\nAnn,Lee\n",  # no email column
        b"email,email,first_name\na@example.com,b@example.com,Ann\n",  # duplicate columns
        b"\x00\x01\x02\xff\xfe binary junk \x00" * 200,
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40,
    ],
    ids=["empty", "no-email-column", "duplicate-columns", "binary", "jpeg"],
)
def test_unusable_files_fail_cleanly_and_write_nothing(newsletter, tmp_path, body):
    path = write_csv(tmp_path, body)
    with pytest.raises(NewsletterError):
        run_import(newsletter, path)
    assert count(newsletter, subscribers) == 0
    assert count(newsletter, imports) == 0


def test_missing_file_fails_cleanly(newsletter, tmp_path):
    with pytest.raises(ValidationError, match="cannot read"):
        run_import(newsletter, tmp_path / "nope.csv")


def test_row_problems_are_rejects_not_failures(newsletter, tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    body = (
        "email,first_name,city\n"
        "ok1@example.com,Zoë,Montréal\n"
        f"big@example.com,{huge},Boston\n"
        "ok2@example.com,Ann,Boston\n"
    ).encode() + "latin@example.com,Jos\xe9,Lyon\n".encode("latin-1")
    path = write_csv(tmp_path, body)
    summary = run_import(newsletter, path)
    assert summary.added == 2 and summary.rejected == 2
    reasons = summary.rejects_path.read_text(encoding="utf-8-sig")
    assert "\n3," in reasons and "\n5," in reasons
    assert subscriber_profile(newsletter, "ok1@example.com")["first_name"] == "Zoë"


def test_cp1252_semicolon_excel_file(newsletter, tmp_path):
    body = "email;first_name;city\r\nzoe@example.com;Zoé;Montréal\r\n".encode("cp1252")
    summary = run_import(newsletter, write_csv(tmp_path, body), encoding="cp1252")
    assert summary.added == 1
    profile = subscriber_profile(newsletter, "zoe@example.com")
    assert profile["first_name"] == "Zoé" and profile["attributes"] == {"city": "Montréal"}


def test_interrupted_import_is_consistent_and_a_rerun_completes_it(newsletter, tmp_path):
    db = newsletter
    rows = "".join(f"p{i}@example.com,P{i},,research-news,,Boston\n" for i in range(50))
    path = write_csv(tmp_path, "email,first_name,last_name,topics,tags,city\n" + rows)
    calls = []

    def crash(done, total):
        calls.append(done)
        if len(calls) == 3:  # chunks are written behind the reader: let one land first
            deadline = time.monotonic() + 10
            while count(db, subscribers) < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_import(db, path, chunk_size=10, progress_cb=crash)
    written = count(db, subscribers)
    assert written in (10, 20, 30)  # whole chunks, nothing half-written
    assert count(db, consent_records) == written
    assert count(db, subscriber_attributes) == written
    summary = run_import(db, path, chunk_size=10)
    assert summary.resumed_after_line == written + 1  # line 1 is the header
    assert (summary.added, summary.unchanged) == (50, 0)
    assert count(db, subscribers) == 50 and count(db, consent_records) == 50
    with db.read() as conn:
        assert set(conn.scalars(select(imports.c.status))) == {"completed"}


def test_a_second_import_while_one_runs_is_refused_and_writes_nothing(newsletter, tmp_path):
    db = newsletter
    first = write_csv(tmp_path, "email\n" + "".join(f"a{i}@example.com\n" for i in range(30)))
    second = write_csv(tmp_path, "email\nintruder@example.com\n", name="second.csv")
    refused = []

    def meanwhile(done, total):
        if not refused:
            with pytest.raises(NewsletterError, match="another import is running") as error:
                run_import(db, second)
            refused.append(error.value)

    summary = run_import(db, first, chunk_size=10, progress_cb=meanwhile)
    assert refused and "one at a time" in str(refused[0])
    assert summary.added == 30 and count(db, subscribers) == 30
    assert run_import(db, second).added == 1  # free again once the first is done
