"""Migration 0007 on SQLite and PostgreSQL: `links_json` becomes `campaign_links`, counters are
filled from what is stored, triggers keep delivery statuses counted, and the downgrade puts
`links_json` back."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
from sqlalchemy import inspect, text

from newsletter.storage.database import Database
from newsletter.storage.schema import downgrade, upgrade
from tests.audience_db import ADMIN_URL

LINKS = [
    {"id": "L1", "url": "https://c.example/book?utm_content=L1", "kind": "consultation"},
    {"id": "L2", "url": "https://c.example/?utm_content=L2", "kind": "article"},
]


def _database(backend: str, tmp_path) -> tuple[str, str]:
    name = f"newsletter_test_{os.getpid()}_trk{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'mig.db'}", name
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def _migrate(db: Database, target: str, down: bool = False) -> None:
    (downgrade if down else upgrade)(db, target)


def counters(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(text("SELECT name, value FROM campaign_counters WHERE scope = ''"))
        return {name: int(value) for name, value in rows}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_links_and_counters_move_and_come_back(backend, tmp_path):
    url, name = _database(backend, tmp_path)
    db = Database.from_url(url)
    try:
        upgrade(db, "0004_audit_log")
        with db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO campaigns (id, key, status, template, segment, subject, "
                    "preheader, sender_name, sender_email, reply_to, articles_json, html, text, "
                    "links_json, batch_size, unknown_policy, late_send_window_s, to_send, "
                    "created_at) VALUES (1, 'k', 'sent', 'article', 'everyone', 's', 'p', 'n', "
                    "'n@c.example', 'r@c.example', '[]', 'h', 't', :links, 100, 'events', 0, 3, "
                    "'2026-11-01')"
                ),
                {"links": json.dumps(LINKS)},
            )
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, campaign_id, batch_seq, status, delivered_at, "
                    "bounce_type) VALUES (1, 1, 0, 'accepted', '2026-11-01', NULL), "
                    "(2, 1, 0, 'accepted', NULL, 'bounce'), (3, 1, 0, 'failed', NULL, NULL)"
                )
            )
        upgrade(db)
        with db.read() as conn:
            rows = conn.execute(
                text("SELECT link_key, url, kind, position FROM campaign_links ORDER BY position")
            )
            assert [tuple(r) for r in rows] == [
                ("L1", LINKS[0]["url"], "consultation", 1),
                ("L2", LINKS[1]["url"], "article", 2),
            ]
            assert "links_json" not in {c["name"] for c in inspect(conn).get_columns("campaigns")}
        assert counters(db) == {
            "status:accepted": 2, "status:failed": 1, "delivered": 1, "bounced_hard": 1
        }  # fmt: skip
        with db.write() as conn:  # the triggers count status changes from now on
            conn.execute(text("UPDATE deliveries SET status = 'pending' WHERE id = 3"))
            conn.execute(text("UPDATE deliveries SET status = 'accepted' WHERE id = 3"))
            conn.execute(text("UPDATE deliveries SET delivered_at = '2026-11-02' WHERE id = 2"))
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, campaign_id, batch_seq, status) VALUES "
                    "(4, 1, 1, 'pending'), (5, 1, 1, 'skipped')"
                )
            )
        assert counters(db)["status:accepted"] == 3
        assert counters(db)["status:failed"] == 0
        assert counters(db)["status:skipped"] == 1
        _migrate(db, "0010_admin", down=True)  # the revision before 0007
        with db.read() as conn:
            restored = conn.scalar(text("SELECT links_json FROM campaigns WHERE id = 1"))
            assert "campaign_links" not in inspect(conn).get_table_names()
        assert json.loads(restored) == LINKS
        upgrade(db)
        with db.read() as conn:
            assert conn.scalar(text("SELECT count(*) FROM campaign_links")) == 2
    finally:
        db.close()
        if backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
