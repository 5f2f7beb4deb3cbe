"""What a person reads: `subscribers show` (text and --json), the CSV export's booleans, and
the GDPR export's `sends`, through the real entry point on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from newsletter.services import privacy
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import deliveries, provider_events
from tests.audience_db import db, db_url  # noqa: F401
from tests.cli.campaign_workdir import workdir  # noqa: F401
from tests.seed import SEED_TEXT

CONSENT = "I agree to receive the Mindstream Medicine newsletter."
ROSTER = (
    "email,first_name,last_name,time_zone,tags,topics,city,events_attended,member_since,"
    "prefers_evening_events\n"
    "ada@example.org,Ada,Lovelace,America/New_York,vip|board,events|research-news,Philadelphia,"
    "3,2021-03-14,yes\n"
    "ben@example.org,Ben,,,,,Camden,2.5,,false\n"
)


@pytest.fixture
def roster(workdir, cli):  # noqa: F811
    (workdir / "roster.csv").write_text(ROSTER)
    assert cli("lists", "create", "news").code == 0
    imported = cli("subscribers", "import", workdir / "roster.csv", "--list", "news",
                   "--consent", CONSENT)  # fmt: skip
    assert imported.code == 0, imported.err
    return workdir


def test_show_prints_values_as_a_person_writes_them(cli, roster):
    shown = cli("subscribers", "show", "ada@example.org")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[:3] == ["email        ada@example.org", "id           1",
                         "status       active"]  # fmt: skip
    assert "first name   Ada" in lines and "time zone    America/New_York" in lines
    assert "lists        news (active)" in lines
    assert "tags         board, vip" in lines and "topics       events, research-news" in lines
    signed_up = next(line for line in lines if line.startswith("signed up"))
    assert signed_up.endswith(" UTC") and "." not in signed_up  # no microseconds, no repr
    assert lines[lines.index("attributes") + 1 :] == [
        "  city                    Philadelphia",
        "  events_attended         3",
        "  member_since            2021-03-14",
        "  prefers_evening_events  true",
    ]
    assert "datetime" not in shown.out and "3.0" not in shown.out and "1.0" not in shown.out

    ben = cli("subscribers", "show", "ben@example.org").out
    assert "last name    (none)" in ben and "tags         (none)" in ben
    assert "  events_attended         2.5" in ben
    assert "  prefers_evening_events  false" in ben


def test_show_json_has_typed_values(cli, roster):
    shown = cli("subscribers", "show", "ada@example.org", "--json")
    assert shown.code == 0, shown.err
    profile = json.loads(shown.out)
    assert profile["attributes"] == {
        "city": "Philadelphia",
        "events_attended": 3,
        "member_since": "2021-03-14",
        "prefers_evening_events": True,
    }
    signed_up = datetime.fromisoformat(profile["signed_up_at"].replace("Z", "+00:00"))
    assert profile["signed_up_at"].endswith("Z") and signed_up.tzinfo is not None
    assert profile["tags"] == ["board", "vip"] and profile["lists"] == {"news": "active"}
    ben = json.loads(cli("subscribers", "show", "ben@example.org", "--json").out)
    assert ben["attributes"]["events_attended"] == 2.5
    assert ben["attributes"]["prefers_evening_events"] is False


def test_csv_export_writes_booleans_as_the_import_reads_them(cli, roster):
    exported = cli("subscribers", "export")
    assert exported.code == 0, exported.err
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(exported.out.lstrip("\ufeff")))}
    assert rows["ada@example.org"]["prefers_evening_events"] == "true"
    assert rows["ben@example.org"]["prefers_evening_events"] == "false"
    assert rows["ada@example.org"]["events_attended"] == "3"
    assert rows["ben@example.org"]["events_attended"] == "2.5"
    # … and the file imports back unchanged.
    (roster / "again.csv").write_text(exported.out.lstrip("\ufeff"))
    again = cli("subscribers", "import", roster / "again.csv", "--list", "news",
                "--consent", CONSENT)  # fmt: skip
    assert again.code == 0 and "0 added, 0 updated, 2 unchanged" in " ".join(again.out.split())


def test_gdpr_export_lists_every_email_sent_with_its_status(cli, roster, db_url):  # noqa: F811
    created = cli("campaign", "create", "--article", SEED_TEXT, "--list", "news")
    campaign_id = int(created.out.strip().splitlines()[-1])
    assert cli("campaign", "send", campaign_id, "--yes").code == 0

    database = Database.from_url(db_url)
    try:
        with database.write() as conn:  # what SendGrid reported for Ada's email
            delivery_id = conn.scalar(
                select(deliveries.c.id).where(deliveries.c.campaign_id == campaign_id)
                .order_by(deliveries.c.subscriber_id).limit(1)
            )  # fmt: skip
            at = datetime(2026, 12, 8, 14, 1, 5, tzinfo=UTC)
            conn.execute(insert(provider_events).values(
                natural_key="nk-delivered", send_id="s", delivery_id=delivery_id,
                event="delivered", occurred_at=at, received_at=at, applied=True,
            ))  # fmt: skip
    finally:
        database.close()

    export = json.loads(cli("subscribers", "gdpr-export", "ada@example.org").out)
    [send] = export["sends"]
    assert send["campaign"] == campaign_id and send["status"] == "accepted"
    assert send["subject"] == "The Role of Neuroplasticity in Mental Health: How Ketamine Helps"
    assert send["campaign_key"].startswith("newsletter-") and send["date"] == send["accepted_at"]
    assert send["events"] == [{"event": "delivered", "occurred_at": at.isoformat(),
                               "bounce_type": None, "reason": None}]  # fmt: skip
    assert export["profile"]["attributes"]["prefers_evening_events"] is True
    ben = json.loads(cli("subscribers", "gdpr-export", "ben@example.org").out)
    assert [s["events"] for s in ben["sends"]] == [[]]


def test_a_registered_send_detail_appears_on_every_send(cli, roster, db, monkeypatch):  # noqa: F811
    """The extension point click tracking fills: SEND_DETAILS[name] = query by delivery."""
    created = cli("campaign", "create", "--article", SEED_TEXT, "--list", "news")
    assert cli("campaign", "send", int(created.out.strip().splitlines()[-1]), "--yes").code == 0
    seen: list[list[int]] = []

    def clicks(conn, delivery_ids):
        seen.append(list(delivery_ids))
        return {delivery_ids[0]: [{"link": "L1"}]}

    monkeypatch.setitem(privacy.SEND_DETAILS, "clicks", clicks)
    export = privacy.gdpr_export(db, "ada@example.org")
    assert [send["clicks"] for send in export["sends"]] == [[{"link": "L1"}]]
    assert len(seen) == 1 and len(seen[0]) == 1
