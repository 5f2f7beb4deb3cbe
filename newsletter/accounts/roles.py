"""Who may do what: the role × action table, pure and checked by every admin handler.

`admin` manages people, settings, exports, privacy requests and the audit log, approves
campaigns, and can do everything a marketer can (an admin's own campaign still needs a second
admin's approval: `domain.approval`). `marketer` writes articles and campaigns, previews,
test-sends, and sends or schedules once a campaign is approved. `staff` edits individual
subscribers and can look at campaigns and articles, nothing else. Editing and sending are
separate actions, so a role can be given one without the other.
"""

from __future__ import annotations

from enum import StrEnum

from newsletter.errors import ValidationError


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    STAFF = "staff"


class Action(StrEnum):
    # everyone signed in
    ACCOUNT_SELF = "account.self"  # own password, own second factor
    ARTICLES_VIEW = "articles.view"
    CAMPAIGNS_VIEW = "campaigns.view"
    SUBSCRIBERS_EDIT = "subscribers.edit"  # one subscriber at a time
    # marketers (and admins)
    ARTICLES_EDIT = "articles.edit"  # add, re-import, archive
    CAMPAIGNS_EDIT = "campaigns.edit"  # create, edit while draft, duplicate, delete, submit
    CAMPAIGNS_PREVIEW = "campaigns.preview"
    CAMPAIGNS_TEST_SEND = "campaigns.test_send"
    CAMPAIGNS_SEND = "campaigns.send"  # send, schedule, pause, resume, cancel (once approved)
    TEMPLATES_EDIT = "templates.edit"
    AUDIENCE_IMPORT = "audience.import"
    # admins only
    CAMPAIGNS_APPROVE = "campaigns.approve"  # approve or reject someone else's campaign
    CAMPAIGNS_REVIEW = "campaigns.review"  # resolve batches held for review (accept / resend)
    USERS_MANAGE = "users.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    SETTINGS_MANAGE = "settings.manage"
    EXPORTS_RUN = "exports.run"
    PRIVACY_REQUESTS = "privacy.requests"  # data-access requests and erasure
    AUDIT_VIEW = "audit.view"


A = Action
_STAFF = frozenset({A.ACCOUNT_SELF, A.ARTICLES_VIEW, A.CAMPAIGNS_VIEW, A.SUBSCRIBERS_EDIT})
_MARKETER = _STAFF | {
    A.ARTICLES_EDIT,
    A.CAMPAIGNS_EDIT,
    A.CAMPAIGNS_PREVIEW,
    A.CAMPAIGNS_TEST_SEND,
    A.CAMPAIGNS_SEND,
    A.TEMPLATES_EDIT,
    A.AUDIENCE_IMPORT,
}
_ADMIN = _MARKETER | {
    A.CAMPAIGNS_APPROVE,
    A.CAMPAIGNS_REVIEW,
    A.USERS_MANAGE,
    A.API_KEYS_MANAGE,
    A.SETTINGS_MANAGE,
    A.EXPORTS_RUN,
    A.PRIVACY_REQUESTS,
    A.AUDIT_VIEW,
}
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(_ADMIN),
    Role.MARKETER: frozenset(_MARKETER),
    Role.STAFF: _STAFF,
}


DESCRIPTIONS: dict[Action, str] = {
    A.ACCOUNT_SELF: "manage their own account",
    A.ARTICLES_VIEW: "see articles",
    A.CAMPAIGNS_VIEW: "see campaigns",
    A.SUBSCRIBERS_EDIT: "edit subscribers",
    A.ARTICLES_EDIT: "add or change articles",
    A.CAMPAIGNS_EDIT: "create or edit campaigns",
    A.CAMPAIGNS_PREVIEW: "preview campaigns",
    A.CAMPAIGNS_TEST_SEND: "send test emails",
    A.CAMPAIGNS_SEND: "send or schedule campaigns",
    A.TEMPLATES_EDIT: "edit templates",
    A.AUDIENCE_IMPORT: "import subscribers",
    A.CAMPAIGNS_APPROVE: "approve or reject campaigns",
    A.CAMPAIGNS_REVIEW: "resolve batches held for review",
    A.USERS_MANAGE: "manage accounts",
    A.API_KEYS_MANAGE: "manage API keys",
    A.SETTINGS_MANAGE: "change settings",
    A.EXPORTS_RUN: "export data",
    A.PRIVACY_REQUESTS: "handle data-access and erasure requests",
    A.AUDIT_VIEW: "read the audit log",
}


def allowed(role: Role | str, action: Action | str) -> bool:
    """True if `role` may perform `action`. Unknown roles or actions are never allowed."""
    try:
        return Action(action) in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def needs_second_factor(role: Role | str) -> bool:
    """Admins must sign in with TOTP (docs/admin.md)."""
    return Role(role) is Role.ADMIN


def parse_role(value: str, *, where: str = "--role") -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a role",
            where=where,
            fix="use one of: " + ", ".join(r.value for r in Role),
        ) from None
