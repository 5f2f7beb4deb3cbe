"""0008_newcomer: campaign targets and zones, and the confirmation email queue, on a database
of its own (SQLite and PostgreSQL): existing campaigns keep their audience; downgrade and
upgrade again."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from sqlalchemy import inspect, text

from newsletter.storage.database import Database
from newsletter.storage.schema import downgrade, upgrade
from tests.audience_db import ADMIN_URL

BEFORE = "0004_audit_log"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    name = f"newsletter_test_{os.getpid()}_mig{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _downgrade(db: Database, revision: str) -> None:
    downgrade(db, revision)


def test_existing_campaigns_get_their_segment_as_target_and_utc_and_downgrade_works(fresh_url):
    db = Database.from_url(fresh_url)
    try:
        upgrade(db, BEFORE)
        with db.write() as conn:
            conn.execute(text(
                "INSERT INTO campaigns (id, key, status, template, segment, subject, preheader,"
                " sender_name, sender_email, reply_to, articles_json, html, text, links_json,"
                " batch_size, unknown_policy, late_send_window_s, to_send, created_at) VALUES"
                " (1, 'k', 'scheduled', 'article', 'research-readers', 's', 'p', 'n',"
                " 'n@c.example', 'r@c.example', '[]', 'h', 't', '[]', 100, 'events', 0, 0,"
                " '2026-11-01')"
            ))  # fmt: skip
        upgrade(db)
        with db.read() as conn:
            row = conn.execute(text("SELECT target, time_zone FROM campaigns")).one()
            assert tuple(row) == ("segment:research-readers", "UTC")
            columns = {c["name"]: c for c in inspect(conn).get_columns("campaigns")}
            assert not columns["target"]["nullable"] and not columns["time_zone"]["nullable"]
            assert "confirmation_emails" in inspect(conn).get_table_names()

        _downgrade(db, BEFORE)
        with db.read() as conn:
            assert "confirmation_emails" not in inspect(conn).get_table_names()
            names = {c["name"] for c in inspect(conn).get_columns("campaigns")}
            assert not {"target", "time_zone"} & names
            assert conn.execute(text("SELECT segment FROM campaigns")).scalar() == (
                "research-readers"
            )
        upgrade(db)
        with db.read() as conn:
            assert conn.execute(text("SELECT target FROM campaigns")).scalar() == (
                "segment:research-readers"
            )
    finally:
        db.close()
