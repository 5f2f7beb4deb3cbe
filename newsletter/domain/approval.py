"""Campaign approval (pure): a draft is submitted, then approved or rejected; any edit to its
content withdraws the approval; it can be scheduled or sent only once approved by someone
other than its author (an admin's own campaign needs a second admin).

Enforced only when it applies (`enforced`): once any account exists and the setting
`NEWSLETTER_APPROVAL` is on. A database without accounts works as it always has.
"""

from __future__ import annotations

from enum import StrEnum

from newsletter.accounts.roles import Action, Role, allowed


class Approval(StrEnum):
    NONE = "none"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class Step(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"  # the content changed: back to a plain draft


NEXT: dict[Step, tuple[frozenset[Approval], Approval]] = {
    Step.SUBMIT: (frozenset({Approval.NONE, Approval.REJECTED}), Approval.SUBMITTED),
    Step.APPROVE: (frozenset({Approval.SUBMITTED}), Approval.APPROVED),
    Step.REJECT: (frozenset({Approval.SUBMITTED, Approval.APPROVED}), Approval.REJECTED),
    Step.EDIT: (frozenset(Approval), Approval.NONE),
}
NEEDED: dict[Step, Action] = {
    Step.SUBMIT: Action.CAMPAIGNS_EDIT,
    Step.APPROVE: Action.CAMPAIGNS_APPROVE,
    Step.REJECT: Action.CAMPAIGNS_APPROVE,
    Step.EDIT: Action.CAMPAIGNS_EDIT,
}


def refusal(
    step: Step,
    *,
    current: Approval,
    status: str,
    actor_id: int,
    actor_role: Role,
    author_id: int | None,
    comment: str = "",
) -> str | None:
    """Why `actor` may not take `step` now, or None if they may."""
    if status != "draft":
        return f"the campaign is {status}; only drafts go through approval"
    if not allowed(actor_role, NEEDED[step]):
        return f"a {actor_role.value} may not {step.value} campaigns"
    sources, _ = NEXT[step]
    if current not in sources:
        return f"the campaign is {current.value}; it cannot be {_past(step)} now"
    if step is Step.APPROVE and author_id is not None and actor_id == author_id:
        return "nobody approves their own campaign: another admin must approve it"
    if step is Step.REJECT and not comment.strip():
        return "a rejection needs a comment saying what to change"
    return None


def after(step: Step) -> Approval:
    return NEXT[step][1]


def send_refusal(
    *, enforced: bool, approval: Approval, author_id: int | None, approver_id: int | None
) -> str | None:
    """Why a campaign may not be scheduled or sent, or None."""
    if not enforced:
        return None
    if approval is not Approval.APPROVED or approver_id is None:
        return f"the campaign is not approved (approval: {approval.value})"
    if author_id is not None and approver_id == author_id:
        return "the campaign was approved by its own author"
    return None


def _past(step: Step) -> str:
    return {"submit": "submitted", "approve": "approved", "reject": "rejected"}.get(
        step.value, "edited"
    )
