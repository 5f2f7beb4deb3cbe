"""Campaign states and the transitions allowed between them.

Pure: the storage layer applies a transition as a compare-and-set
(`UPDATE … WHERE id = :id AND status = :from`), using this table to know what is legal.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PLANNING = "planning"  # the audience is being frozen into deliveries and batches
    SENDING = "sending"
    PAUSED = "paused"  # by a person, or by the system with a reason (e.g. a rejected key)
    NEEDS_REVIEW = "needs_review"  # only batches with an unresolvable outcome remain
    SENT = "sent"
    SENT_WITH_ERRORS = "sent_with_errors"  # some recipients failed permanently
    CANCELLED = "cancelled"
    MISSED = "missed"  # the late-send window passed before it could start


TERMINAL = frozenset(
    {
        CampaignStatus.SENT,
        CampaignStatus.SENT_WITH_ERRORS,
        CampaignStatus.CANCELLED,
        CampaignStatus.MISSED,
    }
)

S = CampaignStatus
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.PLANNING, S.MISSED, S.CANCELLED, S.DRAFT}),
    S.PLANNING: frozenset({S.SENDING, S.CANCELLED}),
    S.SENDING: frozenset({S.PAUSED, S.SENT, S.SENT_WITH_ERRORS, S.NEEDS_REVIEW, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.CANCELLED}),
    S.NEEDS_REVIEW: frozenset({S.SENDING, S.SENT, S.SENT_WITH_ERRORS, S.CANCELLED}),
    S.SENT_WITH_ERRORS: frozenset({S.SENDING}),  # retry-failed, for the failed rows only
    S.SENT: frozenset(),
    S.CANCELLED: frozenset(),
    S.MISSED: frozenset(),
}


def can_transition(current: CampaignStatus | str, target: CampaignStatus | str) -> bool:
    return CampaignStatus(target) in TRANSITIONS[CampaignStatus(current)]


class IllegalTransition(ValueError):
    """Code asked to move a campaign along an edge the table does not have: a bug, never a
    user's mistake (user-facing refusals check `can_transition` first and say why)."""


def legal_sources(target: CampaignStatus, only_from: Iterable[str] | None) -> tuple[str, ...]:
    """The statuses a compare-and-set towards `target` may match: `only_from` when given
    (every one of which must be allowed to reach `target`), else all that may."""
    allowed = sources_of(target)
    if only_from is None:
        return allowed
    chosen = tuple(only_from)
    illegal = sorted(set(chosen) - set(allowed))
    if illegal:
        raise IllegalTransition(f"{', '.join(illegal)} → {target.value} is not in the table")
    return chosen


def sources_of(target: CampaignStatus) -> tuple[str, ...]:
    """Every status from which `target` may be reached (for CAS `WHERE status IN (…)`)."""
    return tuple(sorted(s.value for s, targets in TRANSITIONS.items() if target in targets))


def final_status(*, failed: int, needs_review: int) -> CampaignStatus:
    """How a campaign ends once no batch is pending, in flight, waiting or unknown."""
    if needs_review:
        return CampaignStatus.NEEDS_REVIEW
    if failed:
        return CampaignStatus.SENT_WITH_ERRORS
    return CampaignStatus.SENT
