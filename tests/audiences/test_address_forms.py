"""Addresses are one person whatever their width, case or domain encoding (NFKC + IDNA, issue
#13): dedupe at import, look-alike warnings, erasures made under the old form still hold, and
migration 0006 re-normalises and merges what the old key kept apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text

from newsletter.domain.subscribers import email_hash
from newsletter.storage.database import Database
from newsletter.storage.schema import upgrade
from newsletter.storage.tables import subscribers, subscriptions, suppressions
from tests.audience_db import BACKENDS, db_url, scratch_database  # noqa: F401

KEY = "test-secret-key-0123456789abcdefghijklmnop"  # tests/conftest.py
CONSENT = "I agree to receive the clinic newsletter."
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def home(tmp_path, monkeypatch, db_url):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    return tmp_path


def _import(cli, home, rows: str):
    path = home / f"people-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("email,first_name\n" + rows, encoding="utf-8")
    result = cli("subscribers", "import", path, "--list", "news", "--consent", CONSENT)
    assert result.code == 0, result.err
    return " ".join(result.out.split())


def _emails(db_url):  # noqa: F811
    db = Database.from_url(db_url)
    with db.read() as conn:
        found = sorted(conn.scalars(select(subscribers.c.email)))
    db.close()
    return found


def test_width_case_and_domain_encoding_variants_are_one_person(cli, home, db_url):  # noqa: F811
    assert cli("lists", "create", "news").code == 0
    out = _import(cli, home, "ｊohn@EXAMPLE.com,John\njohn@example.com,John\n"
                             "user@xn--bcher-kva.de,U\nuser@BÜCHER.de,U\n")  # fmt: skip
    assert "2 added" in out
    assert _emails(db_url) == ["john@example.com", "user@bücher.de"]


def test_look_alike_mixed_script_addresses_get_a_warning(cli, home):
    assert cli("lists", "create", "news").code == 0
    out = _import(cli, home, "pаypal@example.com,P\nplain@example.com,Q\n")  # Cyrillic а
    assert "line 2: the address mixes Cyrillic and Latin letters" in out
    assert "line 3" not in out


def test_an_erasure_hashed_under_the_old_form_still_holds(cli, home, db_url):  # noqa: F811
    assert cli("lists", "create", "news").code == 0
    db = Database.from_url(db_url)
    with db.write() as conn:  # what erasing "ｊohn@example.com" left before NFKC
        conn.execute(suppressions.insert().values(
            email_hash=email_hash(KEY, "ｊohn@example.com"), email=None, reason="erasure",
            source="staff:t", created_at=NOW))  # fmt: skip
    db.close()
    out = _import(cli, home, "ｊohn@example.com,John\n")
    assert "0 added" in out and "1 skipped" in out
    refused = cli("subscribers", "add", "ｊohn@example.com", "--consent", CONSENT)
    assert refused.code == 2 and "is suppressed" in refused.err
    assert _emails(db_url) == []


def test_erasure_finds_the_person_by_any_form(cli, home, db_url):  # noqa: F811
    assert cli("lists", "create", "news").code == 0
    _import(cli, home, "john@example.com,John\n")
    assert cli("subscribers", "erase", "ＪＯＨＮ@example.com", "--yes").code == 0
    assert _emails(db_url) == []
    assert "1 skipped" in _import(cli, home, "john@example.com,John\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0006_renormalises_rehashes_and_merges(cli, backend, tmp_path, monkeypatch):
    with scratch_database(backend, tmp_path) as url:
        db = Database.from_url(url)
        try:
            upgrade(db, "0004_audit_log")
            _two_forms_of_one_person(db)
            monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
            result = cli("db", "upgrade")
            assert result.code == 0, result.err
            with db.read() as conn:
                people = conn.execute(
                    select(
                        subscribers.c.id,
                        subscribers.c.email,
                        subscribers.c.email_hash,
                        subscribers.c.status,
                    )
                ).all()
                memberships = conn.execute(
                    select(subscriptions.c.subscriber_id, subscriptions.c.status)
                ).all()
                blocked = conn.execute(
                    select(suppressions.c.email, suppressions.c.email_hash)
                ).all()
            john = ("john@example.com", email_hash(KEY, "john@example.com"))
            assert people == [(1, *john, "unsubscribed")]  # the stickier status wins
            assert memberships == [(1, "unsubscribed")]
            assert blocked == [john]
            assert cli("subscribers", "show", "john@example.com").code == 0
        finally:
            db.close()


def _two_forms_of_one_person(db: Database) -> None:
    """Two people the old NFC key kept apart, and a suppression under a third form."""
    with db.write() as conn:
        conn.execute(text("INSERT INTO lists (id, name, double_opt_in, created_at) "
                          "VALUES (1, 'news', false, '2026-11-01')"))  # fmt: skip
        for sid, email, status in ((1, "john@example.com", "active"),
                                   (2, "ｊohn@example.com", "unsubscribed")):  # fmt: skip
            conn.execute(subscribers.insert().values(
                id=sid, email=email, email_hash=email_hash(KEY, email), status=status,
                signed_up_at=NOW, created_at=NOW, updated_at=NOW))  # fmt: skip
            conn.execute(subscriptions.insert().values(
                subscriber_id=sid, list_id=1, status=status, created_at=NOW,
                updated_at=NOW))  # fmt: skip
        conn.execute(suppressions.insert().values(
            email_hash=email_hash(KEY, "ｊｏｈｎ@example.com"), email="ｊｏｈｎ@example.com",
            reason="staff", source="s", created_at=NOW))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0006_downgrades_and_upgrades_again(backend, tmp_path):
    from alembic import command

    from newsletter.keys.ring import KeyRing
    from newsletter.storage.schema import alembic_config

    with scratch_database(backend, tmp_path) as url:
        db = Database.from_url(url)
        try:
            upgrade(db)
            config = alembic_config()
            with db.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, "0004_audit_log")
            with db.read() as conn:
                inspector = inspect(conn)
                assert "secret_keys" not in inspector.get_table_names()
                assert "rejects_path" not in {c["name"] for c in inspector.get_columns("imports")}
            _two_forms_of_one_person(db)
            upgrade(db, key_ring=KeyRing.parse(KEY))
            with db.read() as conn:
                assert list(conn.scalars(select(subscribers.c.email))) == ["john@example.com"]
        finally:
            db.close()


def test_migration_0006_without_the_key_refuses_on_addresses_to_rehash(tmp_path):
    from alembic import command

    from newsletter.storage.schema import alembic_config

    db = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0004_audit_log")
    with db.write() as conn:
        conn.execute(subscribers.insert().values(
            email="ｊohn@example.com", email_hash="x", status="active", signed_up_at=NOW,
            created_at=NOW, updated_at=NOW))  # fmt: skip
    config = alembic_config()
    with pytest.raises(Exception, match="run `newsletter db upgrade`"), db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    db.close()
