"""The database keeps the key its hashes and links were made with (issue #13, "secrets"):
the same key from any working directory, a refusal for another one, and rotation to a new
key id that keeps every link already mailed working and every erased person erased."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from newsletter.bootstrap import open_database
from newsletter.config import load_settings
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.subscribers import email_hash
from newsletter.storage.sending_tables import campaigns, deliveries
from newsletter.storage.tables import secret_keys, subscribers, suppressions
from newsletter.tokens import current_key, sign
from newsletter.web.app import create_app
from tests.audience_db import db_url  # noqa: F401
from tests.claim_probe import claimable
from tests.web.support import NOW

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY_A = "a" * 20 + "-first-key-0123456789"
KEY_B = "b" * 20 + "-second-key-012345678"
CONSENT = "I agree to receive the clinic newsletter."
PEOPLE = "email,first_name\nann@example.com,Ann\nbob@example.com,Bob\ncarl@example.com,Carl\n"


@pytest.fixture
def home(tmp_path, monkeypatch, db_url):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # PostgreSQL's key lives here
    (tmp_path / "people.csv").write_text(PEOPLE)
    return tmp_path


def _import(cli, home: Path):
    result = cli("subscribers", "import", home / "people.csv", "--list", "news",
                 "--consent", CONSENT)  # fmt: skip
    assert result.code == 0, result.err
    return " ".join(result.out.split())


def _seed_delivery(db, email: str) -> int:
    with db.write() as conn:
        subscriber_id = conn.scalar(select(subscribers.c.id).where(subscribers.c.email == email))
        campaign_id = conn.execute(
            campaigns.insert().values(
                key="newsletter-2026-12", status="sending", template="article",
                segment="everyone", subject="News", preheader="News", sender_name="Clinic",
                sender_email="n@c.example", reply_to="r@c.example", articles_json="[]",
                html="<p>x</p>", text="x", batch_size=100,
                unknown_policy="events", late_send_window_s=0, to_send=1, created_at=NOW,
            ).returning(campaigns.c.id)
        ).scalar_one()  # fmt: skip
        return conn.execute(
            deliveries.insert()
            .values(campaign_id=campaign_id, subscriber_id=subscriber_id, batch_seq=0,
                    status="accepted")
            .returning(deliveries.c.id)
        ).scalar_one()  # fmt: skip


def _mailed_unsubscribe_token(settings, delivery_id: int) -> str:
    """What the engine signs into an email's unsubscribe link (send_batch._outgoing)."""
    keys = settings.signing_keys
    key_id, key = current_key(keys)
    [link_id] = DeliveryIds(keys).link_ids([delivery_id])
    return sign("unsubscribe", link_id, key=key, key_id=key_id)


@contextmanager
def _web(settings):  # type: ignore[no-untyped-def]
    with open_database(settings) as db:
        yield TestClient(create_app(settings, db, process_on_startup=False)), db


def test_erased_person_stays_erased_when_the_import_reruns_from_another_directory(
    cli, home, monkeypatch
):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    first, second = home / "one", home / "two"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    assert cli("lists", "create", "news").code == 0
    assert "3 added" in _import(cli, home)
    assert cli("subscribers", "erase", "ann@example.com", "--yes").code == 0
    monkeypatch.chdir(second)
    again = _import(cli, home)
    assert "0 added" in again and "1 skipped" in again
    assert cli("subscribers", "show", "ann@example.com").code == 2  # still erased
    assert not (first / ".newsletter-secret").exists()
    assert not (second / ".newsletter-secret").exists()


def test_links_already_mailed_keep_working_from_another_directory(cli, home, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    first, second = home / "one", home / "two"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    assert cli("lists", "create", "news").code == 0
    _import(cli, home)
    settings = load_settings()
    with open_database(settings) as db:
        token = _mailed_unsubscribe_token(settings, _seed_delivery(db, "ann@example.com"))
    monkeypatch.chdir(second)  # e.g. `serve` started from another folder
    with _web(load_settings()) as (client, db):
        with client:
            assert client.get(f"/u/{token}").status_code == 200
            answer = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
        with db.read() as conn:
            status = conn.scalar(
                select(subscribers.c.status).where(subscribers.c.email == "ann@example.com")
            )
    assert status == "unsubscribed"


def test_rotation_rekeys_hashes_keeps_old_links_and_erasures(cli, home, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY_A)
    assert cli("lists", "create", "news").code == 0
    _import(cli, home)
    assert cli("subscribers", "unsubscribe", "bob@example.com").code == 0
    assert cli("subscribers", "erase", "carl@example.com", "--yes").code == 0
    old = load_settings()
    with open_database(old) as db:
        ann_delivery = _seed_delivery(db, "ann@example.com")
        old_token = _mailed_unsubscribe_token(old, ann_delivery)
    assert old_token.startswith("a")

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"b:{KEY_B} a:{KEY_A}")
    refused = cli("lists", "list")
    assert refused.code == 2
    assert "still use key 'a'" in refused.err and "newsletter secret rotate" in refused.err

    rotated = cli("secret", "rotate")
    assert rotated.code == 0, rotated.err
    assert "Re-keyed from 'a' to 'b'" in rotated.out
    assert "1 erasure hash(es) stay under older keys" in " ".join(rotated.out.split())

    new = load_settings()
    with open_database(new) as db:
        with db.read() as conn:
            people = dict(conn.execute(select(subscribers.c.email, subscribers.c.email_hash)).all())
            blocked = dict(
                conn.execute(select(suppressions.c.email_hash, suppressions.c.reason)).all()
            )
            ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
            keys = dict(conn.execute(select(secret_keys.c.key_id, secret_keys.c.status)).all())
        assert keys == {"a": "retired", "b": "current"}
        assert people == {e: email_hash(KEY_B, e) for e in ("ann@example.com", "bob@example.com")}
        assert blocked == {
            email_hash(KEY_B, "bob@example.com"): "staff",
            email_hash(KEY_A, "carl@example.com"): "erasure",  # cannot be re-keyed
        }
        # The send-time check compares hashes under one key: bob stays out, ann stays in.
        assert claimable(db, ids.values()) == {ids["ann@example.com"]}
        new_token = _mailed_unsubscribe_token(new, _seed_delivery(db, "bob@example.com"))
    assert new_token.startswith("b")

    again = _import(cli, home)  # carl's erasure (key a) and bob's unsubscribe still hold
    assert "0 added" in again and "2 skipped" in again

    with _web(new) as (client, db):
        with client:
            assert client.get(f"/u/{old_token}").status_code == 200  # mailed before the rotation
            assert client.post(f"/u/{old_token}", data={}).status_code == 200
        with db.read() as conn:
            ann = conn.scalar(
                select(subscribers.c.status).where(subscribers.c.id == ids["ann@example.com"])
            )
    assert ann == "unsubscribed"
    assert "already uses key 'b'" in cli("secret", "rotate").out


def test_a_ring_without_a_key_the_database_used_is_refused(cli, home, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY_A)
    assert cli("lists", "create", "news").code == 0
    _import(cli, home)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"b:{KEY_B} a:{KEY_A}")
    assert cli("secret", "rotate").code == 0
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"b:{KEY_B}")  # key a dropped
    dropped = cli("subscribers", "show", "ann@example.com")
    assert dropped.code == 2 and "used secret key 'a', which is not in the key ring" in dropped.err
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"b:{KEY_B} a:{'z' * 40}")  # a, but another
    wrong = cli("subscribers", "show", "ann@example.com")
    assert wrong.code == 2 and "is not the key 'a' this database was used with" in wrong.err


def test_another_key_on_a_database_holding_hashes_is_refused(cli, home, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY_A)
    assert cli("lists", "create", "news").code == 0
    _import(cli, home)
    settings = load_settings()
    with open_database(settings) as db, db.write() as conn:  # from before the key record
        conn.execute(delete(secret_keys))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY_B)
    result = cli("subscribers", "show", "ann@example.com")
    assert result.code == 2
    assert "made with a secret key that is not in the key ring" in result.err
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY_A)
    assert cli("subscribers", "show", "ann@example.com").code == 0
