"""Signed link tokens: purpose-bound, unforgeable, batch signing identical to one by one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter import tokens

KEY = "token-test-secret-key-0123456789abcdefghij"
IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=16, max_size=64)


@given(st.lists(IDS, max_size=20), st.sampled_from(["unsubscribe", "click", "confirm"]))
def test_sign_many_is_sign_for_each(random_ids, purpose):
    one_by_one = [tokens.sign(purpose, i, key=KEY) for i in random_ids]
    assert tokens.sign_many(purpose, random_ids, key=KEY) == one_by_one
    assert [tokens.verify(purpose, t, keys={"a": KEY}) for t in one_by_one] == random_ids


def test_tokens_are_bound_to_purpose_key_and_content():
    token = tokens.sign("unsubscribe", "0123456789abcdef0123", key=KEY)
    assert tokens.verify("unsubscribe", token, keys={"a": KEY}) == "0123456789abcdef0123"
    assert tokens.verify("click", token, keys={"a": KEY}) is None
    assert tokens.verify("unsubscribe", token, keys={"a": KEY + "x"}) is None
    assert tokens.verify("unsubscribe", token, keys={"b": KEY}) is None
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert tokens.verify("unsubscribe", flipped, keys={"a": KEY}) is None


def test_sign_many_refuses_what_sign_refuses():
    with pytest.raises(ValueError):
        tokens.sign_many("click", ["short"], key=KEY)
    with pytest.raises(ValueError):
        tokens.sign_many("click", ["0123456789abcdef0123"], key=KEY, key_id="ab")
