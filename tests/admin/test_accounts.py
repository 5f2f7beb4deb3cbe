"""Accounts on both databases: management, sign-in with throttling and lock, sessions and
their expiry (injected clock), the second factor, and the audit trail of all of it."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from newsletter.accounts import login, service
from newsletter.accounts.sessions import Stage
from newsletter.errors import Forbidden, NotFound, ValidationError
from newsletter.storage import account_store, audit_log
from newsletter.storage.account_tables import user_sessions, users
from tests.admin.support import PASSWORD, START, add_user


def _actions(db) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return [(r.actor, r.action) for r in reversed(audit_log.recent(conn, 200))]


def test_create_list_and_the_email_is_normalised(db):
    add_user(db, "  Jane.Doe@Clinic.Example ", "marketer")
    rows = service.list_users(db)
    assert [(r.email, r.role, r.disabled_at) for r in rows] == [
        ("jane.doe@clinic.example", "marketer", None)
    ]
    assert rows[0].password_hash.startswith("$argon2id$v=19$m=47104,t=2,p=1$")
    with pytest.raises(ValidationError, match="exists already"):
        add_user(db, "jane.doe@clinic.example", "staff")
    with pytest.raises(ValidationError, match="not a role"):
        add_user(db, "x@clinic.example", "owner")
    with pytest.raises(ValidationError, match="not an email"):
        add_user(db, "not-an-address", "staff")
    assert _actions(db) == [("test", "user-created")]


def test_sign_in_and_wrong_passwords_answer_the_same(db):
    add_user(db, "m@clinic.example", "marketer")
    session_id, stage = login.sign_in(db, email="M@clinic.example", password=PASSWORD,
                                      address="198.51.100.7", now=START)  # fmt: skip
    assert stage is Stage.FULL
    session = login.load_session(db, session_id, START)
    assert session is not None and session.email == "m@clinic.example"
    messages = set()
    for email in ("m@clinic.example", "nobody@clinic.example"):
        with pytest.raises(login.LoginRefused) as refused:
            login.sign_in(db, email=email, password="wrong password!", address="198.51.100.7",
                          now=START)  # fmt: skip
        messages.add(refused.value.message)
    assert messages == {login.WRONG}
    assert _actions(db)[-3:] == [
        ("user:m@clinic.example", "login"),
        ("user:m@clinic.example", "login-failed"),
        ("anonymous", "login-failed"),
    ]


def test_lock_after_ten_failures_then_unlock_by_an_admin_or_after_fifteen_minutes(db):
    add_user(db, "m@clinic.example", "marketer")
    at = START
    for attempt in range(10):
        with pytest.raises(login.LoginRefused) as refused:
            login.sign_in(db, email="m@clinic.example", password="wrong password!",
                          address=f"203.0.113.{attempt}", now=at)  # fmt: skip
        assert refused.value.retry_after_s == 0  # evaluated: the answer is "wrong"
        at += timedelta(minutes=1)  # past every delay
    with pytest.raises(login.LoginRefused, match="locked") as refused:
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address="203.0.113.99",
                      now=at)  # fmt: skip
    assert refused.value.retry_after_s > 0
    assert ("user:m@clinic.example", "account-locked") in _actions(db)
    assert service.lock_state(db, ["m@clinic.example"], at)
    assert service.unlock(db, "m@clinic.example", actor="user:admin@clinic.example") is True
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address="203.0.113.99", now=at)
    # and the lock also lifts by itself after 15 minutes
    for _ in range(10):
        with pytest.raises(login.LoginRefused):
            login.sign_in(db, email="m@clinic.example", password="wrong password!",
                          address=None, now=at)  # fmt: skip
        at += timedelta(minutes=1)
    with pytest.raises(login.LoginRefused, match="locked"):
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=at)
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                  now=at + timedelta(minutes=15))  # fmt: skip


def test_progressive_delay_refuses_without_evaluating(db):
    add_user(db, "m@clinic.example", "marketer")
    for _ in range(5):
        with pytest.raises(login.LoginRefused):
            login.sign_in(db, email="m@clinic.example", password="nope nope nope", address=None,
                          now=START)  # fmt: skip
    with pytest.raises(login.LoginRefused, match="paused for 1 second") as refused:
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    assert refused.value.retry_after_s == 1
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                  now=START + timedelta(seconds=1))  # fmt: skip


def test_one_address_trying_many_accounts_is_throttled(db):
    for attempt in range(50):
        with pytest.raises(login.LoginRefused):
            login.sign_in(db, email=f"guess{attempt}@clinic.example", password="x" * 12,
                          address="192.0.2.1", now=START + timedelta(minutes=attempt))  # fmt: skip
    add_user(db, "m@clinic.example", "marketer")
    with pytest.raises(login.LoginRefused, match="locked"):
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address="192.0.2.1",
                      now=START + timedelta(minutes=50))  # fmt: skip
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address="192.0.2.2",
                  now=START + timedelta(minutes=50))  # fmt: skip


def test_disabled_accounts_cannot_sign_in_and_their_sessions_end(db):
    add_user(db, "a@clinic.example", "admin")
    add_user(db, "m@clinic.example", "marketer")
    session_id, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                                  now=START)  # fmt: skip
    service.set_disabled(db, "m@clinic.example", True, actor="staff:ops")
    assert login.load_session(db, session_id, START) is None
    with pytest.raises(login.LoginRefused, match="wrong"):
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    service.set_disabled(db, "m@clinic.example", False, actor="staff:ops")
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)


def test_role_change_and_password_reset_end_sessions_and_the_last_admin_stays(db):
    add_user(db, "a@clinic.example", "admin")
    add_user(db, "m@clinic.example", "marketer")
    first, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                             now=START)  # fmt: skip
    service.set_role(db, "m@clinic.example", "staff", actor="staff:ops")
    assert login.load_session(db, first, START) is None
    second, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                              now=START)  # fmt: skip
    service.reset_password(db, "m@clinic.example", "another long password", actor="staff:ops")
    assert login.load_session(db, second, START) is None
    with pytest.raises(ValidationError, match="last active admin"):
        service.set_role(db, "a@clinic.example", "marketer", actor="staff:ops")
    with pytest.raises(ValidationError, match="last active admin"):
        service.set_disabled(db, "a@clinic.example", True, actor="staff:ops")
    with pytest.raises(NotFound):
        service.unlock(db, "ghost@clinic.example", actor="staff:ops")


def test_sessions_expire_when_idle_and_absolutely(db):
    add_user(db, "m@clinic.example", "marketer")
    session_id, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                                  now=START)  # fmt: skip
    at = START
    for _ in range(23):  # active every 29 minutes: alive for 11 h 7 min
        at += timedelta(minutes=29)
        assert login.load_session(db, session_id, at) is not None
    assert login.load_session(db, session_id, START + timedelta(hours=12)) is None  # absolute
    idle_id, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                               now=START)  # fmt: skip
    assert login.load_session(db, idle_id, START + timedelta(minutes=30)) is None  # idle
    with db.read() as conn:  # an expired session is deleted, not just ignored
        assert conn.scalar(select(user_sessions.c.id_digest).limit(1)) is None


def test_the_database_holds_only_digests_of_session_ids(db):
    add_user(db, "m@clinic.example", "marketer")
    session_id, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None,
                                  now=START)  # fmt: skip
    with db.read() as conn:
        stored = conn.scalar(select(user_sessions.c.id_digest))
    assert stored != session_id and session_id not in stored
    assert login.load_session(db, stored, START) is None


def test_an_old_hash_is_upgraded_at_sign_in(db):
    add_user(db, "m@clinic.example", "marketer")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with db.write() as conn:
        conn.execute(users.update().values(password_hash=weak))
    login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    with db.read() as conn:
        stored = conn.scalar(select(users.c.password_hash))
    assert stored != weak and stored.startswith("$argon2id$v=19$m=47104,t=2,p=1$")


def test_admins_enrol_totp_then_need_it_and_recovery_codes_work_once(db):
    add_user(db, "a@clinic.example", "admin")
    session_id, stage = login.sign_in(db, email="a@clinic.example", password=PASSWORD,
                                      address=None, now=START)  # fmt: skip
    assert stage is Stage.ENROL
    session = login.load_session(db, session_id, START)
    secret = login.enrolment_secret(db, session)
    session = login.load_session(db, session_id, START)
    assert login.enrolment_secret(db, session) == secret  # stable while enrolling
    with pytest.raises(login.LoginRefused):
        login.finish_enrolment(db, session, "000000", now=START)
    full_id, codes = login.finish_enrolment(db, session, pyotp.TOTP(secret).at(START), now=START)
    assert full_id != session_id and login.load_session(db, session_id, START) is None
    assert login.load_session(db, full_id, START).stage is Stage.FULL
    assert len(codes) == 10
    # the next sign-in needs a code; a used code cannot be replayed
    at = START + timedelta(minutes=5)
    mfa_id, stage = login.sign_in(db, email="a@clinic.example", password=PASSWORD, address=None,
                                  now=at)  # fmt: skip
    assert stage is Stage.MFA
    mfa = login.load_session(db, mfa_id, at)
    code = pyotp.TOTP(secret).at(at)
    done = login.second_factor(db, mfa, code, address=None, now=at)
    assert done != mfa_id and login.load_session(db, done, at).stage is Stage.FULL
    again_id, _ = login.sign_in(db, email="a@clinic.example", password=PASSWORD, address=None,
                                now=at)  # fmt: skip
    again = login.load_session(db, again_id, at)
    with pytest.raises(login.LoginRefused):
        login.second_factor(db, again, code, address=None, now=at)  # replayed
    login.second_factor(db, again, codes[0], address=None, now=at)  # a recovery code
    third_id, _ = login.sign_in(db, email="a@clinic.example", password=PASSWORD, address=None,
                                now=at)  # fmt: skip
    with pytest.raises(login.LoginRefused):
        login.second_factor(db, login.load_session(db, third_id, at), codes[0], address=None,
                            now=at)  # fmt: skip
    with db.read() as conn:
        assert account_store.unused_recovery_codes(conn, 1) == 9


def test_change_password_ends_other_sessions(db):
    add_user(db, "m@clinic.example", "marketer")
    one, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    two, _ = login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    with pytest.raises(login.LoginRefused):
        login.change_password(db, login.load_session(db, one, START), "wrong", "x" * 12, now=START)
    new = login.change_password(db, login.load_session(db, one, START), PASSWORD,
                                "a brand new passphrase", now=START)  # fmt: skip
    assert login.load_session(db, one, START) is None
    assert login.load_session(db, two, START) is None
    assert login.load_session(db, new, START) is not None


def test_actor_for_checks_the_role_for_cli_as(db):
    add_user(db, "s@clinic.example", "staff")
    with pytest.raises(Forbidden, match="staff may not approve or reject campaigns"):
        from newsletter.accounts.roles import Action

        service.actor_for(db, "s@clinic.example", Action.CAMPAIGNS_APPROVE)


def test_abandoned_sessions_are_removed_at_the_next_sign_in(db):
    add_user(db, "m@clinic.example", "marketer")
    for _ in range(3):
        login.sign_in(db, email="m@clinic.example", password=PASSWORD, address=None, now=START)
    login.sign_in(
        db,
        email="m@clinic.example",
        password=PASSWORD,
        address=None,
        now=START + timedelta(minutes=31),
    )
    with db.read() as conn:
        assert len(conn.execute(select(user_sessions.c.id_digest)).all()) == 1
