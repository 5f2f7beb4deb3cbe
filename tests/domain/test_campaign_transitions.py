"""The campaign state machine (docs/sending.md, "Campaign states"): the table, CAS sources,
final status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.domain.campaigns import (
    TERMINAL,
    TRANSITIONS,
    CampaignStatus,
    IllegalTransition,
    can_transition,
    final_status,
    legal_sources,
    sources_of,
)

S = CampaignStatus
NON_TERMINAL = [s for s in S if s not in TERMINAL]

EXPECTED = {
    S.DRAFT: {S.SCHEDULED, S.CANCELLED},
    S.SCHEDULED: {S.PLANNING, S.MISSED, S.CANCELLED, S.DRAFT},
    S.PLANNING: {S.SENDING, S.CANCELLED},
    S.SENDING: {S.PAUSED, S.SENT, S.SENT_WITH_ERRORS, S.NEEDS_REVIEW, S.CANCELLED},
    S.PAUSED: {S.SENDING, S.CANCELLED},
    S.NEEDS_REVIEW: {S.SENDING, S.SENT, S.SENT_WITH_ERRORS, S.CANCELLED},
    S.SENT_WITH_ERRORS: {S.SENDING},
    S.SENT: set(),
    S.CANCELLED: set(),
    S.MISSED: set(),
}


def test_table_covers_every_status_and_matches_the_design():
    assert set(TRANSITIONS) == set(S)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED


def test_terminal_set():
    assert {S.SENT, S.SENT_WITH_ERRORS, S.CANCELLED, S.MISSED} == TERMINAL


@pytest.mark.parametrize("status", sorted(TERMINAL - {S.SENT_WITH_ERRORS}))
def test_terminal_states_have_no_exits(status):
    assert TRANSITIONS[status] == frozenset()
    assert not any(can_transition(status, target) for target in S)


def test_retry_failed_is_the_only_way_out_of_a_finished_campaign():
    # sent_with_errors → sending (retry the failed rows) is the single exit from a terminal state
    assert TRANSITIONS[S.SENT_WITH_ERRORS] == {S.SENDING}
    exits = {(s, t) for s in TERMINAL for t in TRANSITIONS[s]}
    assert exits == {(S.SENT_WITH_ERRORS, S.SENDING)}
    assert not can_transition(S.SENT, S.SENDING)
    assert not can_transition(S.SENT_WITH_ERRORS, S.CANCELLED)


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_cancel_from_every_non_terminal(status):
    assert can_transition(status, S.CANCELLED)
    assert can_transition(status.value, "cancelled")  # plain strings too (from the DB)


@pytest.mark.parametrize("status", list(S))
def test_no_self_loops(status):
    assert not can_transition(status, status)


def test_only_the_scheduler_leads_to_planning_and_missed():
    assert sources_of(S.PLANNING) == ("scheduled",)
    assert sources_of(S.MISSED) == ("scheduled",)
    assert sources_of(S.DRAFT) == ("scheduled",)


def test_sources_of_is_the_inverse_of_the_table():
    for target in S:
        expected = sorted(s.value for s in S if target in EXPECTED[s])
        assert sources_of(target) == tuple(expected)
    assert sources_of(S.SENDING) == ("needs_review", "paused", "planning", "sent_with_errors")
    assert sources_of(S.CANCELLED) == tuple(sorted(s.value for s in NON_TERMINAL))


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError):
        can_transition("sending", "exploded")
    with pytest.raises(ValueError):
        can_transition("exploded", "sending")


@given(failed=st.integers(0, 10**6), needs_review=st.integers(0, 10**6))
def test_final_status(failed, needs_review):
    status = final_status(failed=failed, needs_review=needs_review)
    if needs_review:
        assert status == S.NEEDS_REVIEW
    elif failed:
        assert status == S.SENT_WITH_ERRORS
    else:
        assert status == S.SENT
    assert can_transition(S.SENDING, status)  # always reachable from sending


def test_final_status_examples():
    assert final_status(failed=0, needs_review=0) == S.SENT
    assert final_status(failed=3, needs_review=0) == S.SENT_WITH_ERRORS
    assert final_status(failed=3, needs_review=1) == S.NEEDS_REVIEW
    assert final_status(failed=0, needs_review=1) == S.NEEDS_REVIEW


@given(st.sampled_from(list(S)), st.sets(st.sampled_from(list(S)), min_size=1))
def test_a_compare_and_set_can_only_name_sources_the_table_allows(target, sources):
    chosen = sorted(s.value for s in sources)
    if all(can_transition(source, target) for source in sources):
        assert legal_sources(target, chosen) == tuple(chosen)
    else:
        with pytest.raises(IllegalTransition, match="is not in the table"):
            legal_sources(target, chosen)
    assert legal_sources(target, None) == sources_of(target)
