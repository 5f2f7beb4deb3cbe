"""Migrations, the outdated-schema refusal, SQLite settings and the PD-1 column allowlist."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from newsletter.storage.database import Database, normalize_database_url
from newsletter.storage.schema import (
    SchemaOutdated,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
)
from newsletter.storage.tables import metadata
from tests.audience_db import BACKENDS  # noqa: F401  (also loads every table module)

# PD-1: what the subscriber-related tables may hold. A new column must be added here on
# purpose, after checking it is not health information.
ALLOWED_COLUMNS = {
    "subscribers": {"id", "email", "email_hash", "first_name", "last_name", "status",
                    "time_zone", "signed_up_at", "created_at", "updated_at"},
    "tags": {"id", "name"},
    "subscriber_tags": {"subscriber_id", "tag_id"},
    "topics": {"id", "name"},
    "subscriber_topics": {"subscriber_id", "topic_id"},
    "subscriber_attributes": {"subscriber_id", "name", "value_text", "value_number",
                              "value_date"},
    "lists": {"id", "name", "double_opt_in", "created_at"},
    "subscriptions": {"subscriber_id", "list_id", "status", "created_at", "updated_at",
                      "confirmed_at", "unsubscribed_at", "suppressed_from"},
    "consent_texts": {"version", "text", "created_at"},
    "consent_records": {"id", "subscriber_id", "email", "event", "occurred_at", "method",
                        "source", "list_id", "consent_text_version", "ip", "user_agent"},
    "suppressions": {"id", "email_hash", "email", "reason", "source", "created_at"},
    "confirmation_requests": {"id", "token_id", "subscriber_id", "list_id", "email_hash",
                              "consent_text_version", "ip", "user_agent", "sent_at",
                              "expires_at", "confirmed_at"},
    "confirmation_emails": {"id", "request_id", "send_id", "status", "attempts",
                            "next_attempt_at", "lease_until", "last_error", "created_at",
                            "sent_at"},
    "imports": {"id", "file_name", "file_sha256", "list_id", "consent_text_version",
                "consent_confirmed", "status", "last_line", "added", "updated", "unchanged",
                "skipped", "started_at", "finished_at", "rejects_path"},
    "subscriber_events": {"id", "subscriber_id", "event", "link_kind", "occurred_at"},
    # Engagement (PD-6): truncated values only; bookings carry no person at all.
    "clicks": {"id", "campaign_id", "delivery_id", "link_key", "occurred_at", "machine",
               "reason", "ua_family", "ip_prefix"},
    "conversions": {"id", "booking_hash", "source", "occurred_at", "received_at",
                    "utm_source", "utm_medium", "utm_campaign", "utm_content", "campaign_id",
                    "link_key"},
    "soft_bounce_streaks": {"subscriber_id", "first_at", "last_at", "count"},
}  # fmt: skip
CLINICAL = re.compile(
    r"diagnos|patient|treat|dob|birth|condition|appointment|ssn|insurance|medication|symptom"
    r"|referr|phone|prescri|therap"
)


def test_database_schema_matches_allowlist_and_has_no_clinical_columns(db: Database):
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            if table == "alembic_version" or table not in ALLOWED_COLUMNS:
                continue
            columns = {c["name"] for c in inspector.get_columns(table)}
            assert columns <= ALLOWED_COLUMNS[table], f"{table}: {columns - ALLOWED_COLUMNS[table]}"
            for column in columns:
                assert not CLINICAL.search(column), f"{table}.{column} looks clinical"
        assert set(ALLOWED_COLUMNS) <= set(inspector.get_table_names())


def test_migrations_reach_head_and_match_the_tables(db: Database):
    assert current_revision(db) == head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_outdated_schema_is_refused_with_the_fix(db: Database):
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_old'"))
    with pytest.raises(SchemaOutdated) as error:
        ensure_schema(db)
    assert "outdated" in str(error.value) and "newsletter db upgrade" in str(error.value)


def test_fresh_sqlite_file_is_created_by_running_the_migrations(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        ensure_schema(db)
        assert current_revision(db) == head_revision()
    finally:
        db.close()


def test_empty_database_without_autocreate_is_refused(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(SchemaOutdated, match="no newsletter schema"):
            ensure_schema(db, create_if_empty=False)
    finally:
        db.close()


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.close()


def test_postgres_urls_use_psycopg3():
    assert normalize_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_upgrade_to_computed_delivery_ids_keeps_events_linked(tmp_path):
    """0003 drops the stored random ids; an event stored under one keeps its delivery."""
    db = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(db, "0002_sending")
        with db.write() as conn:
            for statement in (
                "INSERT INTO campaigns (id, key, status, template, segment, subject, preheader,"
                " sender_name, sender_email, reply_to, articles_json, html, text, links_json,"
                " batch_size, unknown_policy, late_send_window_s, to_send, created_at) VALUES"
                " (1, 'k', 'sent', 'article', 'everyone', 's', 'p', 'n', 'n@c.example',"
                " 'r@c.example', '[]', 'h', 't', '[]', 100, 'events', 0, 1, '2026-11-01')",
                "INSERT INTO deliveries (id, campaign_id, batch_seq, status, send_id, token_id)"
                " VALUES (7, 1, 0, 'accepted', 'oldsendid0123456789', 'oldtokenid0123456789')",
                "INSERT INTO provider_events (id, natural_key, send_id, event, occurred_at,"
                " received_at, applied) VALUES (1, 'nk1', 'oldsendid0123456789', 'processed',"
                " '2026-11-01', '2026-11-01', 1), (2, 'nk2', 'not-ours', 'processed',"
                " '2026-11-01', '2026-11-01', 1)",
            ):
                conn.execute(text(statement))
        upgrade(db)
        with db.read() as conn:
            rows = conn.execute(text("SELECT id, delivery_id FROM provider_events ORDER BY id"))
            assert [tuple(r) for r in rows] == [(1, 7), (2, None)]
            columns = {c["name"] for c in inspect(conn).get_columns("deliveries")}
        assert not {"send_id", "token_id"} & columns
    finally:
        db.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_audit_log_migration_downgrades_and_upgrades_again(backend, tmp_path):
    """0004 on a database of its own: the downgrade removes the table and its triggers."""
    import os
    import uuid

    import psycopg

    from newsletter.storage.schema import downgrade
    from tests.audience_db import ADMIN_URL

    name = f"newsletter_test_{os.getpid()}_mig{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'mig.db'}"
    else:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database.from_url(url)
    try:
        upgrade(db)
        downgrade(db, "0003_computed_delivery_ids")
        with db.read() as conn:
            assert "audit_log" not in inspect(conn).get_table_names()
        upgrade(db)
        with db.write() as conn:
            conn.execute(text("INSERT INTO audit_log (occurred_at, actor, action, target, detail)"
                              " VALUES ('2026-11-28', 'a', 'export', 'all', '{}')"))  # fmt: skip
        with pytest.raises(Exception, match="append-only"), db.write() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'b'"))
    finally:
        db.close()
        if backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_every_migration_downgrades_to_base_and_upgrades_to_the_tables_again(backend, tmp_path):
    """The whole chain, down and up, on a database of its own: nothing left behind, and the
    schema the migrations build is the one `tables` describes."""
    import os
    import uuid

    import psycopg

    from newsletter.storage.schema import downgrade
    from tests.audience_db import ADMIN_URL

    name = f"newsletter_test_{os.getpid()}_all{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    else:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database.from_url(url)
    try:
        upgrade(db)
        downgrade(db, "base")
        with db.read() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(db)
        assert current_revision(db) == head_revision()
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in differences if d[0] != "remove_table"] == []
    finally:
        db.close()
        if backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrading_a_database_that_has_sent_keeps_every_row(backend, tmp_path):
    """Regression: on SQLite a migration that rebuilds `campaigns` (to alter a column) used
    to drop it with foreign keys on, which cascaded and emptied deliveries and batches."""
    import os
    import uuid

    import psycopg

    from tests.audience_db import ADMIN_URL

    name = f"newsletter_test_{os.getpid()}_keep{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keep.db'}"
    else:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database.from_url(url)
    try:
        upgrade(db, "0004_audit_log")
        with db.write() as conn:
            conn.execute(text(
                "INSERT INTO campaigns (id, key, status, template, segment, subject, preheader,"
                " sender_name, sender_email, reply_to, articles_json, html, text, links_json,"
                " batch_size, unknown_policy, late_send_window_s, to_send, created_at) VALUES"
                " (1, 'k', 'sent', 'article', 'everyone', 's', 'p', 'n', 'n@c.example',"
                " 'r@c.example', '[]', 'h', 't', '[]', 100, 'events', 0, 2, '2026-11-01')"
            ))  # fmt: skip
            conn.execute(text("INSERT INTO send_batches (id, campaign_id, seq, status, attempts)"
                              " VALUES (1, 1, 0, 'accepted', 1)"))  # fmt: skip
            conn.execute(text("INSERT INTO deliveries (id, campaign_id, batch_seq, status) VALUES"
                              " (1, 1, 0, 'accepted'), (2, 1, 0, 'accepted')"))  # fmt: skip
        upgrade(db)
        with db.read() as conn:
            counts = [conn.scalar(text(f"SELECT count(*) FROM {t}"))
                      for t in ("campaigns", "send_batches", "deliveries")]  # fmt: skip
        assert counts == [1, 1, 2]
    finally:
        db.close()
        if backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
