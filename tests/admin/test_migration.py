"""0010_admin on a database of its own, on both databases: upgrade, downgrade, upgrade again."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from sqlalchemy import inspect, text

from newsletter.storage.database import Database
from newsletter.storage.schema import downgrade, upgrade
from tests.audience_db import ADMIN_URL

TABLES = {
    "users",
    "user_sessions",
    "recovery_codes",
    "login_throttle",
    "articles",
    "campaign_articles",
    "campaign_workflow",
    "campaign_reviews",
}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_admin_migration_downgrades_and_upgrades_again(backend, tmp_path):
    name = f"newsletter_test_{os.getpid()}_adm{uuid.uuid4().hex[:8]}"  # orphan cleanup: pid
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'mig.db'}"
    else:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database.from_url(url)
    try:
        upgrade(db)
        with db.read() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
        downgrade(db, "0004_audit_log")
        with db.read() as conn:
            names = set(inspect(conn).get_table_names())
        assert not TABLES & names and "campaigns" in names and "audit_log" in names
        upgrade(db)
        with db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (email, role, password_hash, created_at, updated_at,"
                    " password_changed_at) VALUES ('a@c.example', 'admin', 'h', '2026-11-30',"
                    " '2026-11-30', '2026-11-30')"
                )
            )
        with pytest.raises(Exception, match=r"(?i)unique"), db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (email, role, password_hash, created_at, updated_at,"
                    " password_changed_at) VALUES ('a@c.example', 'staff', 'h', '2026-11-30',"
                    " '2026-11-30', '2026-11-30')"
                )
            )
    finally:
        db.close()
        if backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
