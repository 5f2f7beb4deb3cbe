"""Per-batch work must not grow with the campaign: every statement `send_batch` runs reaches
the ledger through the batch's index or a primary key (SQLite's planner, asked directly).

A plan that walks a whole campaign per batch turned a million-recipient send quadratic once
(ordering a batch by subscriber made SQLite prefer the (campaign, subscriber) index)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy import event, select

from newsletter.services import planning
from newsletter.services.send_batch import send_batch
from newsletter.storage.database import Database
from newsletter.storage.schema import ensure_schema
from newsletter.storage.sending_tables import send_batches
from tests.sending.support import add_audience, context, new_campaign
from tests.sending.test_planning import _plan

# How a statement may reach the big tables: by primary key, the batch index, or an index
# equality on the whole key. Never a scan, never the campaign-wide unique index alone.
ALLOWED = re.compile(
    r"USING (INTEGER PRIMARY KEY|INDEX ix_deliveries_batch \(campaign_id=\? AND batch_seq=\?"
    r"|(COVERING )?INDEX sqlite_autoindex_suppressions_1 \(email_hash=\?\)"
    r"|INDEX sqlite_autoindex_send_"
    r"|COVERING INDEX sqlite_autoindex_send_|INDEX ix_send_batches_)"
)
BIG = ("deliveries", "subscribers", "suppressions", "send_attempts", "send_batches")


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'plans.db'}")
    ensure_schema(db)
    yield db
    db.close()


def _capture(db: Database) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(
            ("SELECT", "UPDATE", "INSERT", "DELETE")
        ):
            seen.append((statement, parameters))

    return seen


def test_send_batch_reaches_the_ledger_by_index_only(sqlite_db, send_settings, emulator, tmp_path):
    db = sqlite_db
    add_audience(db, send_settings, "plans.example", 300)
    campaign_id = new_campaign(db, send_settings)
    _plan(db, send_settings, campaign_id)
    with db.read() as conn:
        batch_id = conn.scalar(select(send_batches.c.id).where(send_batches.c.seq == 5))
    statements = _capture(db)
    assert (
        send_batch(context(db, send_settings, emulator.base_url), batch_id, worker="w")
        == "accepted"
    )
    raw = sqlite3.connect(tmp_path / "plans.db")
    problems = []
    for statement, parameters in statements:
        for *_, detail in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters):
            touches = any(re.search(rf"\b{t}\b", detail) for t in BIG)
            if touches and not ALLOWED.search(detail):
                problems.append(f"{detail}  ←  {statement.split(chr(10))[0][:90]}")
    raw.close()
    assert len(statements) > 5
    assert not problems, "\n".join(problems)


def test_planning_windows_walk_the_primary_key(sqlite_db, send_settings, monkeypatch):
    db = sqlite_db
    add_audience(db, send_settings, "plans.example", 50)
    monkeypatch.setattr(planning, "PLAN_CHUNK", 10)
    campaign_id = new_campaign(db, send_settings)
    statements = _capture(db)
    _plan(db, send_settings, campaign_id)
    raw = sqlite3.connect(sqlite_db.engine.url.database)
    inserts = [(s, p) for s, p in statements if s.startswith("INSERT INTO deliveries")]
    assert len(inserts) == 5
    for statement, parameters in inserts:
        plan = [d for *_, d in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
        assert "SEARCH walk USING INTEGER PRIMARY KEY (rowid>?)" in plan, plan
        assert "SEARCH subscribers USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
        assert not any("ix_subscribers_status" in d for d in plan), plan
    raw.close()
