"""PD-7: exports, GDPR exports, erasures and imports leave an append-only audit trail."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from newsletter.services.exports import export_subscribers
from newsletter.services.privacy import erase_subscriber, gdpr_export
from newsletter.storage import audit_log
from newsletter.storage.tables import audit_log as audit_table
from tests.services.test_import_service import CSV, KEY, NOW, SPECS, run_import, write_csv


@pytest.fixture
def people(db, tmp_path):
    from newsletter.services.lists import create_list

    create_list(db, "newsletter", now=NOW)
    run_import(db, write_csv(tmp_path, CSV), staff_user="maria")
    return db


def entries(db):
    with db.read() as conn:
        return [(r.actor, r.action, r.target, json.loads(r.detail)) for r in
                reversed(audit_log.recent(conn, 100))]  # fmt: skip


def test_each_bulk_or_privacy_act_is_recorded_without_personal_data(people):
    db = people
    assert export_subscribers(db, io.StringIO(), specs=SPECS, actor="staff:maria", now=NOW) == 3
    gdpr_export(db, "ann@example.com", actor="staff:maria", now=NOW)
    erase_subscriber(db, key=KEY, email="ann@example.com", source="staff:maria", now=NOW)
    logged = entries(db)
    assert [(actor, action) for actor, action, _target, _detail in logged] == [
        ("staff:maria", "import"),
        ("staff:maria", "export"),
        ("staff:maria", "gdpr-export"),
        ("staff:maria", "erase"),
    ]
    assert logged[0][2] == "list:newsletter" and logged[0][3]["added"] == 3
    assert logged[0][3]["rejected"] == 1
    assert logged[1][2:] == ("all subscribers", {"rows": 3, "completed": True})
    assert logged[2][2] == logged[3][2] and logged[2][2].startswith("subscriber:")
    assert "ann@example.com" not in repr(logged)


def test_an_export_that_fails_midway_is_still_recorded(people):
    class Full(io.StringIO):
        def write(self, text):
            if self.tell() > 60:  # the header and a row or so, then the disk is "full"
                raise OSError(28, "No space left on device")
            return super().write(text)

    with pytest.raises(OSError):
        export_subscribers(people, Full(), specs=SPECS, actor="staff:maria", now=NOW)
    _actor, action, _target, detail = entries(people)[-1]
    assert (action, detail["completed"]) == ("export", False)
    assert detail["rows"] < 3


def test_the_log_refuses_updates_and_deletes(people):
    db = people
    for statement in (
        update(audit_table).values(actor="someone else"),
        delete(audit_table),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
            conn.execute(statement)
    with db.read() as conn:
        assert conn.scalar(select(audit_table.c.actor)) == "staff:maria"
