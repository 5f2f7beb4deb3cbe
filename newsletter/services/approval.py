"""Campaign approval use cases: submit, approve, reject, the withdrawal an edit causes, and
the check `services.campaigns` makes before a campaign is scheduled or sent.

The rules are `domain.approval`; this module reads the campaign and its workflow row in the
same write transaction it changes them in, records the step in the review history and the
audit log, and raises `Forbidden` with the reason when a rule refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from newsletter.accounts.service import Actor
from newsletter.config import Settings
from newsletter.domain.approval import Approval, Step, after, refusal, send_refusal
from newsletter.errors import Forbidden
from newsletter.storage import account_store, audit_log, campaign_store, workflow_store
from newsletter.storage.database import Database

MAX_COMMENT = 2000


@dataclass(frozen=True)
class Workflow:
    approval: Approval
    author: str | None  # email
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    history: list[dict[str, Any]]
    enforced: bool


def enforced(conn: Connection, settings: Settings) -> bool:
    """Approval applies once an account exists, unless NEWSLETTER_APPROVAL is off."""
    return settings.approval and account_store.any_user(conn)


def take_step(
    db: Database,
    campaign_id: int,
    step: Step,
    actor: Actor,
    *,
    comment: str = "",
    now: datetime | None = None,
) -> Approval:
    """Submit, approve or reject (`step`) as `actor`; returns the new approval state."""
    now = now or datetime.now(UTC)
    comment = comment.strip()[:MAX_COMMENT]
    with db.write() as conn:
        campaign = campaign_store.get_campaign(conn, campaign_id)
        row = workflow_store.ensure_workflow(conn, campaign_id)
        reason = refusal(
            step,
            current=Approval(row.approval),
            status=campaign.status,
            actor_id=actor.id,
            actor_role=actor.role,
            author_id=row.author_id,
            comment=comment,
        )
        if reason:
            raise Forbidden(reason, where=f"campaign {campaign_id}")
        state = after(step)
        decided = (
            {"decided_by": actor.id, "decided_at": now, "comment": comment or None}
            if step in (Step.APPROVE, Step.REJECT)
            else {"decided_by": None, "decided_at": None, "comment": comment or None}
        )
        workflow_store.set_approval(conn, campaign_id, state.value, **decided)
        workflow_store.add_review(conn, campaign_id, step.value, actor.id, comment or None, now)
        audit_log.record(
            conn,
            actor=actor.audit_name,
            action=f"campaign-{_verb(step)}",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={"comment": bool(comment)},
        )
    return state


def content_edited(conn: Connection, campaign_id: int, actor: Actor | None, now: datetime) -> bool:
    """Inside the edit's transaction: any approval or submission is withdrawn. True if one was."""
    row = workflow_store.ensure_workflow(conn, campaign_id)
    if Approval(row.approval) is Approval.NONE:
        return False
    workflow_store.set_approval(
        conn, campaign_id, Approval.NONE.value, decided_by=None, decided_at=None, comment=None
    )
    user_id = actor.id if actor else None
    workflow_store.add_review(conn, campaign_id, Step.EDIT.value, user_id, None, now)
    return True


def require_approval(conn: Connection, settings: Settings, campaign_id: int) -> None:
    """Raise Forbidden unless the campaign may be scheduled or sent (see domain.approval)."""
    if not enforced(conn, settings):
        return
    row = workflow_store.get_workflow(conn, campaign_id)
    reason = send_refusal(
        enforced=True,
        approval=Approval(row.approval) if row else Approval.NONE,
        author_id=row.author_id if row else None,
        approver_id=row.decided_by if row else None,
    )
    if reason:
        raise Forbidden(
            f"it cannot be scheduled or sent: {reason}",
            where=f"campaign {campaign_id}",
            fix=f"submit it (`newsletter campaign submit {campaign_id} --as EMAIL`) and have "
            "an admin other than its author approve it; a one-person clinic can set "
            "NEWSLETTER_APPROVAL=off",
        )


def workflow(db: Database, settings: Settings, campaign_id: int) -> Workflow:
    with db.read() as conn:
        return workflow_in(conn, settings, campaign_id)


def workflow_in(conn: Connection, settings: Settings, campaign_id: int) -> Workflow:
    """Where a campaign's approval stands, with its history, read on `conn`."""
    row = workflow_store.get_workflow(conn, campaign_id)
    history = workflow_store.reviews(conn, campaign_id)
    ids = {r.user_id for r in history if r.user_id is not None}
    if row is not None:
        ids |= {i for i in (row.author_id, row.decided_by) if i is not None}
    emails = account_store.emails_of(conn, ids)
    applies = enforced(conn, settings)
    return Workflow(
        approval=Approval(row.approval) if row else Approval.NONE,
        author=emails.get(row.author_id) if row and row.author_id else None,
        decided_by=emails.get(row.decided_by) if row and row.decided_by else None,
        decided_at=row.decided_at if row else None,
        comment=row.comment if row else None,
        history=[
            {
                "action": r.action,
                "who": emails.get(r.user_id, "—") if r.user_id else "—",
                "comment": r.comment,
                "at": r.occurred_at,
            }
            for r in history
        ],
        enforced=applies,
    )


def _verb(step: Step) -> str:
    return {"submit": "submitted", "approve": "approved", "reject": "rejected"}.get(
        step.value, "edited"
    )
