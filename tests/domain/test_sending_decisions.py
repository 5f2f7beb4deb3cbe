"""What every provider answer means (docs/sendgrid.md §3, docs/sending.md), backoff
bounds, and how a refused batch is cut until the bad address is alone (R-09)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.domain.sending import (
    Action,
    ProviderResult,
    bad_indexes,
    classify,
    provider_wait,
    retry_delay,
    split,
)

NOW = 1_800_000_000.0  # a fixed "now" (2027-01-15), epoch seconds


def _errors(*fields: str | None) -> str:
    return json.dumps(
        {"errors": [{"message": "invalid", "field": f, "help": None} for f in fields]}
    )


HTTP_DATE_IN_90S = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)

# (id, result, live recipients, expected action, expected not_before_s, expected bad indexes)
CASES = [
    ("202", ProviderResult(status=202, message_id="abc"), 100, Action.ACCEPTED, 0.0, ()),
    ("200-sandbox", ProviderResult(status=200), 100, Action.ACCEPTED, 0.0, ()),
    ("400-single", ProviderResult(status=400, body=_errors("personalizations.0.to")), 1,
     Action.FAIL, 0.0, ()),
    ("400-many-no-field", ProviderResult(status=400, body=_errors(None)), 100,
     Action.SPLIT, 0.0, ()),
    ("400-many-not-json", ProviderResult(status=400, body="Bad Request"), 100,
     Action.SPLIT, 0.0, ()),
    ("400-many-named", ProviderResult(
        status=400,
        body=_errors("personalizations.7.to.0.email", "personalizations.3.to.0.email",
                     "personalizations.7.to.0.name")),
     100, Action.SPLIT, 0.0, (3, 7)),
    ("400-many-named-plus-global", ProviderResult(
        status=400, body=_errors("personalizations.7.to.0.email", "from")),
     100, Action.SPLIT, 0.0, ()),  # one error not tied to a recipient: bisect instead
    ("401-bad-key", ProviderResult(status=401, body=_errors(None)), 100, Action.PAUSE, 0.0, ()),
    ("401-credits", ProviderResult(status=401, body="Maximum credits exceeded"), 1,
     Action.PAUSE, 0.0, ()),
    ("403", ProviderResult(status=403, body="access forbidden"), 100, Action.PAUSE, 0.0, ()),
    ("404", ProviderResult(status=404, body="not found"), 100, Action.PAUSE, 0.0, ()),
    ("405", ProviderResult(status=405), 100, Action.PAUSE, 0.0, ()),
    # 413: split (issue #4) until one recipient is still too large, then pause.
    ("413-single", ProviderResult(status=413, body="content too large"), 1,
     Action.PAUSE, 0.0, ()),
    ("413-many", ProviderResult(status=413, body="content too large"), 100,
     Action.SPLIT, 0.0, ()),
    ("415", ProviderResult(status=415), 100, Action.PAUSE, 0.0, ()),
    ("429-no-headers", ProviderResult(status=429), 100, Action.RETRY, 0.0, ()),
    ("429-reset", ProviderResult(status=429, headers={
        "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOW) + 42)}), 100, Action.RETRY, 42.0, ()),
    ("429-reset-in-past", ProviderResult(status=429, headers={
        "X-RateLimit-Reset": str(int(NOW) - 5)}), 100, Action.RETRY, 0.0, ()),
    ("429-retry-after-seconds", ProviderResult(status=429, headers={"Retry-After": "17"}), 100,
     Action.RETRY, 17.0, ()),
    ("429-retry-after-date", ProviderResult(status=429, headers={"retry-after": HTTP_DATE_IN_90S}),
     100, Action.RETRY, 90.0, ()),
    ("429-both-largest-wins", ProviderResult(status=429, headers={
        "x-ratelimit-reset": str(int(NOW) + 10), "Retry-After": "30"}), 100,
     Action.RETRY, 30.0, ()),
    ("429-garbage-headers", ProviderResult(status=429, headers={
        "X-RateLimit-Reset": "soon", "Retry-After": "later"}), 100, Action.RETRY, 0.0, ()),
    ("500", ProviderResult(status=500, body="internal server error"), 100, Action.RETRY, 0.0, ()),
    ("503-retry-after", ProviderResult(status=503, headers={"Retry-After": "5"}), 100,
     Action.RETRY, 5.0, ()),
    ("502", ProviderResult(status=502), 100, Action.UNKNOWN, 0.0, ()),
    ("504", ProviderResult(status=504), 100, Action.UNKNOWN, 0.0, ()),
    ("refused", ProviderResult(failure="refused", detail="[Errno 111]"), 100,
     Action.RETRY, 0.0, ()),
    ("timeout", ProviderResult(failure="timeout"), 100, Action.UNKNOWN, 0.0, ()),
    ("reset", ProviderResult(failure="reset"), 100, Action.UNKNOWN, 0.0, ()),
    ("error", ProviderResult(failure="error", detail="SSLError"), 100, Action.UNKNOWN, 0.0, ()),
    ("no-status-no-failure", ProviderResult(), 100, Action.UNKNOWN, 0.0, ()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("result", "live", "action", "wait", "bad"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(result, live, action, wait, bad):
    decision = classify(result, live=live, now=NOW)
    assert decision.action == action
    assert decision.not_before_s == pytest.approx(wait, abs=1e-6)
    assert decision.bad_indexes == bad
    assert decision.reason


def test_every_action_is_reachable():
    reached = {classify(c[1], live=c[2], now=NOW).action for c in CASES}
    assert reached == set(Action)


def test_error_reasons_are_short():
    decision = classify(ProviderResult(status=500, body="x" * 10_000), live=2, now=NOW)
    assert len(decision.reason) < 400


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ()),
        ("[]", ()),
        ('{"errors": "nope"}', ()),
        ('{"errors": []}', ()),
        ('{"errors": [{"field": "personalizations.12.to.0.email"}]}', (12,)),
        ('{"errors": [{"field": "personalizations.12"}, {"field": "personalizations.2.to"}]}',
         (2, 12)),
        ('{"errors": [{"field": "personalizationsX.1.to"}]}', ()),
        ('{"errors": [{"field": "personalizations.1x.to"}]}', ()),
        ('{"errors": ["personalizations.1.to"]}', ()),
    ],
)  # fmt: skip
def test_bad_indexes(body, expected):
    assert bad_indexes(ProviderResult(status=400, body=body)) == expected


def test_provider_wait_header_names_are_case_insensitive_via_classify():
    upper = classify(ProviderResult(status=429, headers={"RETRY-AFTER": "9"}), live=2, now=NOW)
    assert upper.not_before_s == 9.0


def test_provider_wait_takes_lowercase_headers():
    assert provider_wait({"retry-after": " 12 "}, now=NOW) == 12.0
    assert provider_wait({"x-ratelimit-reset": str(int(NOW) + 3)}, now=NOW) == 3.0
    assert provider_wait({}, now=NOW) == 0.0


# -- retry_delay ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(min_value=0, max_value=200),
    not_before=st.floats(min_value=0, max_value=10_000, allow_nan=False),
    base=st.floats(min_value=0.001, max_value=60, allow_nan=False),
    cap=st.floats(min_value=0.001, max_value=3600, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_delay_bounds(attempt, not_before, base, cap, seed):
    delay = retry_delay(
        attempt, not_before_s=not_before, base=base, cap=cap, rng=random.Random(seed)
    )
    assert delay >= 0
    assert delay >= not_before  # never before the provider's own wait
    assert delay <= max(cap, not_before)  # capped, unless the provider asked for longer
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    assert delay <= max(ceiling, not_before)


def test_retry_delay_is_full_jitter():
    rng = random.Random(1)
    delays = [retry_delay(4, not_before_s=0, base=1, cap=300, rng=rng) for _ in range(2000)]
    assert max(delays) <= 8
    assert min(delays) < 0.5  # full jitter: anywhere from 0 to the ceiling
    assert max(delays) > 7.5
    assert retry_delay(50, not_before_s=0, base=1, cap=300, rng=rng) <= 300


# -- split ---------------------------------------------------------------------------------------
items_st = st.lists(st.integers(), min_size=2, max_size=300, unique=True)


@settings(max_examples=200, deadline=None)
@given(items=items_st)
def test_split_halves_without_culprits(items):
    parts = split(items)
    assert len(parts) == 2
    assert parts[0] + parts[1] == items  # partition, order kept
    assert all(parts)  # both halves non-empty
    assert abs(len(parts[0]) - len(parts[1])) <= 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), items=items_st)
def test_split_isolates_named_culprits(data, items):
    bad = data.draw(
        st.lists(st.integers(0, len(items) - 1), min_size=1, max_size=len(items)), label="bad"
    )
    parts = split(items, bad)
    assert sorted(x for part in parts for x in part) == sorted(items)  # partition
    singles = [part for part in parts if len(part) == 1 and items.index(part[0]) in set(bad)]
    assert sorted(s[0] for s in singles) == sorted({items[i] for i in bad})  # culprits alone
    rest = [x for i, x in enumerate(items) if i not in set(bad)]
    if rest:
        assert parts[0] == rest  # everyone else together, order kept
        assert len(parts) == 1 + len(set(bad))
    else:
        assert len(parts) == len(set(bad))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), items=items_st)
def test_split_ignores_out_of_range_culprits(data, items):
    bad = data.draw(st.lists(st.integers(len(items), 10 * len(items)), min_size=1, max_size=3))
    assert split(items, bad) == [items[: len(items) // 2], items[len(items) // 2 :]]


# -- bisection bound (R-09) ----------------------------------------------------------------------
def _simulate(n: int, bad_position: int, *, name_indexes: bool) -> tuple[int, list[int]]:
    """Send a batch of n with one invalid address through classify/split until everything is
    accepted or failed. Returns (calls, failed)."""
    bad_item = bad_position
    queue = [list(range(n))]
    calls, failed, accepted = 0, [], []
    while queue:
        batch = queue.pop(0)
        calls += 1
        assert calls <= 4 * n, "runaway splitting"
        if bad_item in batch:
            index = batch.index(bad_item)
            field = f"personalizations.{index}.to.0.email" if name_indexes else None
            result = ProviderResult(status=400, body=_errors(field))
        else:
            result = ProviderResult(status=202, message_id="m")
        decision = classify(result, live=len(batch), now=NOW)
        if decision.action == Action.ACCEPTED:
            accepted += batch
        elif decision.action == Action.FAIL:
            failed += batch
        else:
            assert decision.action == Action.SPLIT
            children = split(batch, decision.bad_indexes)
            assert all(children), "a split must never produce an empty batch"
            queue += children
    assert sorted(accepted + failed) == list(range(n))  # nobody lost or duplicated
    return calls, failed


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=1000))
def test_bisection_isolates_one_bad_address_within_bound(data, n):
    bad = data.draw(st.integers(0, n - 1), label="bad")
    calls, failed = _simulate(n, bad, name_indexes=False)
    assert failed == [bad]
    assert calls <= 2 * math.ceil(math.log2(n)) + 1


@pytest.mark.parametrize("bad", [0, 1, 49, 50, 63, 98, 99])
def test_one_invalid_in_100_costs_at_most_14_extra_calls(bad):
    calls, failed = _simulate(100, bad, name_indexes=False)
    assert failed == [bad]
    assert calls - 1 <= 14


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=1000))
def test_named_culprit_costs_exactly_two_extra_calls(data, n):
    bad = data.draw(st.integers(0, n - 1), label="bad")
    calls, failed = _simulate(n, bad, name_indexes=True)
    assert failed == [bad]
    assert calls - 1 == 2
