"""The pure rules, tested alone: role × action (walked exhaustively against a literal table),
login throttling, session lifetimes, approval, TOTP codes, the stored password hash (S-14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import extract_parameters

from newsletter.accounts import passwords, sessions, throttle, totp
from newsletter.accounts.roles import Action, Role, allowed, needs_second_factor, parse_role
from newsletter.domain.approval import Approval, Step, after, refusal, send_refusal
from newsletter.errors import ValidationError

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# The whole matrix, written out: a = admin, m = marketer, s = staff.
EXPECTED = {
    "account.self": "ams",
    "articles.view": "ams",
    "campaigns.view": "ams",
    "subscribers.edit": "ams",
    "articles.edit": "am",
    "campaigns.edit": "am",
    "campaigns.preview": "am",
    "campaigns.test_send": "am",
    "campaigns.send": "am",
    "templates.edit": "am",
    "audience.import": "am",
    "campaigns.approve": "a",
    "campaigns.review": "a",
    "users.manage": "a",
    "api_keys.manage": "a",
    "settings.manage": "a",
    "exports.run": "a",
    "privacy.requests": "a",
    "audit.view": "a",
}


def test_every_role_and_action_pair_matches_the_table():
    assert {a.value for a in Action} == set(EXPECTED)
    checked = 0
    for action in Action:
        for role in Role:
            assert allowed(role, action) is (role.value[0] in EXPECTED[action.value]), (
                role,
                action,
            )
            checked += 1
    assert checked == len(Role) * len(Action) == 57


def test_editing_and_sending_are_separate_actions():
    assert Action.CAMPAIGNS_EDIT != Action.CAMPAIGNS_SEND
    assert not allowed("staff", "campaigns.send") and not allowed("staff", "campaigns.edit")


def test_unknown_roles_and_actions_are_never_allowed():
    assert not allowed("root", "users.manage")
    assert not allowed("admin", "rm -rf")
    assert needs_second_factor("admin") and not needs_second_factor("marketer")


def test_parse_role_names_the_choices():
    assert parse_role(" Marketer ") is Role.MARKETER
    with pytest.raises(ValidationError, match="admin, marketer, staff"):
        parse_role("owner")


# --- throttle -------------------------------------------------------------------------------


def _fail(counter, times, policy=throttle.ACCOUNT, at=NOW):  # type: ignore[no-untyped-def]
    for _ in range(times):
        counter = throttle.after_failure(counter, policy, at)
    return counter


def test_first_five_failures_cost_nothing_then_the_delay_doubles():
    counter = _fail(throttle.Counter(), 4)
    assert throttle.verdict(counter, throttle.ACCOUNT, NOW).allowed
    counter = _fail(counter, 1)
    assert throttle.verdict(counter, throttle.ACCOUNT, NOW) == throttle.Verdict(False, 1)
    assert throttle.verdict(counter, throttle.ACCOUNT, NOW + timedelta(seconds=1)).allowed
    assert [throttle.delay_s(n, throttle.ACCOUNT) for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]


def test_tenth_failure_locks_for_fifteen_minutes_then_unlocks_by_itself():
    counter = _fail(throttle.Counter(), 10)
    assert counter.locked_until == NOW + timedelta(minutes=15)
    verdict = throttle.verdict(counter, throttle.ACCOUNT, NOW + timedelta(minutes=14))
    assert verdict == throttle.Verdict(False, 60, locked=True)
    assert throttle.verdict(counter, throttle.ACCOUNT, NOW + timedelta(minutes=15)).allowed


def test_failures_after_an_expired_lock_lock_again_every_five():
    counter = _fail(throttle.Counter(), 10)
    later = NOW + timedelta(minutes=16)
    counter = _fail(counter, 4, at=later)
    assert (counter.failures, counter.locked_until) == (14, None)
    counter = _fail(counter, 1, at=later)
    assert counter.failures == 15 and counter.locked_until == later + timedelta(minutes=15)


def test_never_more_than_one_hundred_consecutive_failures():
    counter, at = throttle.Counter(), NOW
    attempts = 0
    for _ in range(1000):
        verdict = throttle.verdict(counter, throttle.ACCOUNT, at)
        if verdict.locked and verdict.retry_after_s > 365 * 86400:
            break  # locked until an admin unlocks it
        if verdict.allowed:
            counter = throttle.after_failure(counter, throttle.ACCOUNT, at)
            attempts += 1
        at += timedelta(seconds=verdict.retry_after_s or 1)
    assert attempts == 100
    assert at - NOW < timedelta(days=1)
    assert counter.locked_until is not None and counter.locked_until > at + timedelta(days=3650)


def test_a_quiet_day_forgets_the_count_and_the_address_policy_is_looser():
    counter = _fail(throttle.Counter(), 7)
    assert throttle.current(counter, throttle.ACCOUNT, NOW + timedelta(days=1)).failures == 0
    assert _fail(throttle.Counter(), 10, throttle.ADDRESS).locked_until is None
    assert _fail(throttle.Counter(), 50, throttle.ADDRESS).locked_until is not None


# --- sessions ---------------------------------------------------------------------------------


def test_session_ids_are_random_and_only_their_digest_is_stored():
    first, second = sessions.new_session_id(), sessions.new_session_id()
    assert first != second and len(first) >= 43  # 256 bits, base64url
    assert sessions.digest(first) != first and len(sessions.digest(first)) == 64


@pytest.mark.parametrize(
    ("created", "seen", "stage", "expired"),
    [
        (timedelta(0), timedelta(minutes=29, seconds=59), "full", False),
        (timedelta(0), timedelta(minutes=30), "full", True),  # idle
        (timedelta(hours=11, minutes=59), timedelta(minutes=1), "full", False),
        (timedelta(hours=12), timedelta(0), "full", True),  # absolute
        (timedelta(minutes=10), timedelta(0), "mfa", True),  # half-signed-in
        (timedelta(minutes=9), timedelta(0), "enrol", False),
    ],
)
def test_session_lifetimes(created, seen, stage, expired):
    assert (
        sessions.expired(stage=stage, created_at=NOW - created, last_seen_at=NOW - seen, now=NOW)
        is expired
    )


# --- approval ----------------------------------------------------------------------------------


def _refusal(step, current, role="admin", actor=1, author=2, status="draft", comment=""):  # type: ignore[no-untyped-def]
    return refusal(step, current=current, status=status, actor_id=actor, actor_role=Role(role),
                   author_id=author, comment=comment)  # fmt: skip


def test_approval_path_and_its_refusals():
    assert _refusal(Step.SUBMIT, Approval.NONE, "marketer") is None
    assert after(Step.SUBMIT) is Approval.SUBMITTED
    assert _refusal(Step.APPROVE, Approval.SUBMITTED) is None
    assert "another admin" in _refusal(Step.APPROVE, Approval.SUBMITTED, actor=2)
    assert "marketer may not approve" in _refusal(Step.APPROVE, Approval.SUBMITTED, "marketer")
    assert "staff may not submit" in _refusal(Step.SUBMIT, Approval.NONE, "staff")
    assert "cannot be approved" in _refusal(Step.APPROVE, Approval.NONE)
    assert "needs a comment" in _refusal(Step.REJECT, Approval.SUBMITTED, comment=" ")
    assert _refusal(Step.REJECT, Approval.APPROVED, comment="fix the title") is None
    assert "only drafts" in _refusal(Step.SUBMIT, Approval.NONE, status="sent")
    assert after(Step.EDIT) is Approval.NONE
    assert _refusal(Step.APPROVE, Approval.SUBMITTED, author=None) is None  # made by the CLI


def test_sending_needs_an_approval_by_someone_else_when_enforced():
    kwargs = {"approval": Approval.APPROVED, "author_id": 1, "approver_id": 2}
    assert send_refusal(enforced=True, **kwargs) is None
    assert (
        send_refusal(enforced=False, approval=Approval.NONE, author_id=1, approver_id=None) is None
    )
    assert "not approved" in send_refusal(enforced=True, approval=Approval.SUBMITTED,
                                          author_id=1, approver_id=None)  # fmt: skip
    assert "own author" in send_refusal(enforced=True, approval=Approval.APPROVED, author_id=1,
                                        approver_id=1)  # fmt: skip


# --- TOTP and recovery codes ----------------------------------------------------------------------


def test_totp_accepts_the_current_and_adjacent_steps_once():
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(NOW)
    step = totp.matching_step(secret, code, NOW, None)
    assert step == int(NOW.timestamp()) // 30
    assert totp.matching_step(secret, code, NOW, step) is None  # replay
    late = pyotp.TOTP(secret).at(NOW - timedelta(seconds=30))
    assert totp.matching_step(secret, late, NOW, None) == step - 1
    old = pyotp.TOTP(secret).at(NOW - timedelta(seconds=90))
    assert totp.matching_step(secret, old, NOW, None) is None
    assert totp.matching_step(secret, "12345", NOW, None) is None


def test_qr_code_is_an_inline_svg_without_scripts_or_links():
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), account="a@c.example", issuer="C"))
    assert svg.startswith("<svg") and "<script" not in svg and "href" not in svg


def test_recovery_codes_are_distinct_and_compared_by_digest():
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    assert totp.recovery_digest(codes[0].upper().replace("-", " ")) == totp.recovery_digest(
        codes[0]
    )


# --- passwords (S-14) -----------------------------------------------------------------------------


def test_stored_hash_is_argon2id_at_owasp_parameters_or_stronger():
    stored = passwords.hash_password("correct horse battery staple")
    parameters = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert parameters.memory_cost >= 19456 and parameters.time_cost >= 2
    assert parameters.parallelism >= 1
    assert passwords.verify_password(stored, "correct horse battery staple")
    assert not passwords.verify_password(stored, "correct horse battery stapler")
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("not a hash", "anything at all")


def test_weaker_hashes_are_flagged_for_rehash():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("x" * 12)
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("x" * 12))


@pytest.mark.parametrize("bad", ["short", "x" * 1025, "twelve chars\nand more"])
def test_password_rules(bad):
    with pytest.raises(ValidationError):
        passwords.hash_password(bad)
