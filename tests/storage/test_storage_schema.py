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
                      "confirmed_at", "unsubscribed_at"},
    "consent_texts": {"version", "text", "created_at"},
    "consent_records": {"id", "subscriber_id", "email", "event", "occurred_at", "method",
                        "source", "list_id", "consent_text_version", "ip", "user_agent"},
    "suppressions": {"id", "email_hash", "email", "reason", "source", "created_at"},
    "confirmation_requests": {"id", "token_id", "subscriber_id", "list_id", "email_hash",
                              "consent_text_version", "ip", "user_agent", "sent_at",
                              "expires_at", "confirmed_at"},
    "imports": {"id", "file_name", "file_sha256", "list_id", "consent_text_version",
                "consent_confirmed", "status", "last_line", "added", "updated", "unchanged",
                "skipped", "started_at", "finished_at"},
    "subscriber_events": {"id", "subscriber_id", "event", "link_kind", "occurred_at"},
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
