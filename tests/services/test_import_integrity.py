"""Imports vouch for their own references (what replaces PostgreSQL's per-row FK triggers)."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from newsletter.audiences.csv_import import ImportRow
from newsletter.domain.subscribers import email_hasher
from newsletter.services.import_chunks import ChunkContext, apply_chunk, prepare_chunk
from newsletter.services.lists import create_list
from newsletter.storage import audit_log
from newsletter.storage.bulk import bulk_transaction, skip_row_triggers
from newsletter.storage.database import Database
from newsletter.storage.tables import lists, metadata, subscriber_topics, subscribers
from tests.services.test_import_service import KEY, NOW, count, run_import, write_csv

PEOPLE = "".join(
    f"p{i}@example.com,P{i},,research-news|events,vip,Boston\n" for i in range(300)
)  # 300 rows: enough for the COPY path (storage.bulk.COPY_THRESHOLD)
HEADER = "email,first_name,last_name,topics,tags,city\n"


def orphans(db: Database) -> list[str]:
    """Every foreign key of every table, checked set-wise: child rows without their parent."""
    found = []
    with db.read() as conn:
        for table in metadata.sorted_tables:
            for fk in table.foreign_key_constraints:
                (column,), (target,) = fk.columns, [e.column for e in fk.elements]
                missing = conn.scalar(
                    select(func.count())
                    .select_from(table.outerjoin(target.table, column == target))
                    .where(column.is_not(None), target.is_(None))
                )
                if missing:
                    found.append(f"{table.name}.{column.name}: {missing}")
    return found


@pytest.fixture
def newsletter(db):
    create_list(db, "newsletter", now=NOW)
    return db


def test_imported_rows_point_only_at_existing_parents(newsletter, tmp_path):
    first = run_import(newsletter, write_csv(tmp_path, HEADER + PEOPLE))
    more = PEOPLE.replace("research-news|events", "events|wellness-tips")  # updates: new links
    second = run_import(newsletter, write_csv(tmp_path, HEADER + more, name="more.csv"))
    assert (first.added, second.updated) == (300, 300)
    assert count(newsletter, subscriber_topics) == 900
    assert orphans(newsletter) == []


@pytest.mark.postgres
def test_superuser_imports_skip_row_triggers_only_inside_the_transaction(pg_url):
    db = Database.from_url(pg_url)
    try:
        with db.write() as conn:
            assert skip_row_triggers(conn) is True  # the test server's user is a superuser
            assert conn.scalar(text("SHOW session_replication_role")) == "replica"
            audit_log.record(conn, actor="test", action="import", target="list:x", now=NOW)
            with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
                conn.execute(text("DELETE FROM audit_log"))  # ENABLE ALWAYS: still refused
        with db.write() as conn:  # the same pooled connection, next transaction
            assert conn.scalar(text("SHOW session_replication_role")) == "origin"
    finally:
        db.close()


@pytest.fixture
def limited_url(pg_url):
    """The test database, reached as a role that is neither superuser nor owner."""
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    role = f"newsletter_limited_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    host = admin.split("@", 1)[1]
    try:
        yield f"postgresql://{role}@{host}", role, admin
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_a_role_without_the_privilege_imports_with_row_triggers(limited_url, tmp_path):
    url, role, admin = limited_url
    owner = Database.from_url(admin)
    create_list(owner, "newsletter", now=NOW)
    owner.close()
    db = Database.from_url(url)
    try:
        with db.write() as conn:
            assert skip_row_triggers(conn) is False
            assert conn.scalar(text("SHOW session_replication_role")) == "origin"
        summary = run_import(db, write_csv(tmp_path, HEADER + PEOPLE))
        assert summary.added == 300 and orphans(db) == []
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'GRANT SET ON PARAMETER session_replication_role TO "{role}"')
        with db.write() as conn:
            assert skip_row_triggers(conn) is True
        more = PEOPLE.replace("p", "q")
        assert run_import(db, write_csv(tmp_path, HEADER + more, name="q.csv")).added == 300
        assert orphans(db) == []
    finally:
        db.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'REVOKE SET ON PARAMETER session_replication_role FROM "{role}"')


@pytest.mark.postgres
def test_a_chunk_locks_the_people_it_links_until_it_commits(pg_url, tmp_path):
    """The lock a foreign-key trigger would take: erasing someone the open chunk is adding a
    topic to waits for the chunk instead of leaving an orphan link behind. (SQLite needs no
    row locks: a write transaction holds the whole database.)"""
    newsletter = Database.from_url(pg_url)
    create_list(newsletter, "newsletter", now=NOW)
    run_import(newsletter, write_csv(tmp_path, HEADER + "ann@example.com,Ann,,events,,Boston\n"))
    with newsletter.read() as conn:
        list_id = conn.scalar(select(lists.c.id))
    context = ChunkContext(
        key=KEY, batch_id="b1", list_id=list_id, double_opt_in=False, consent_confirmed=False,
        consent_text_version=None, staff_user="test", kinds={"city": "text"}, now=NOW,
        hasher=email_hasher(KEY),
    )  # fmt: skip
    row = ImportRow(2, "ann@example.com", "Ann", None, None, (), ("research-news",), {})
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with newsletter.write() as conn:
        bulk_transaction(conn)
        assert apply_chunk(conn, context, prepare_chunk(context, [row]))["updated"] == 1
        with psycopg.connect(admin, autocommit=True) as other:
            other.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM subscribers WHERE email = 'ann@example.com'")
    assert count(newsletter, subscriber_topics) == 2
    with psycopg.connect(admin, autocommit=True) as other:  # committed: the cascade works
        other.execute("DELETE FROM subscribers WHERE email = 'ann@example.com'")
    assert count(newsletter, subscriber_topics) == 0 and count(newsletter, subscribers) == 0
    newsletter.close()
