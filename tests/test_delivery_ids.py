"""Computed delivery ids: reversible only with the key, purpose-bound, rotation-safe."""

from __future__ import annotations

import secrets

from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery_ids import DeliveryIds

KEYS = {"a": "first-secret-key-0123456789abcdefghijklmnop"}


@given(st.lists(st.integers(min_value=1, max_value=2**63 - 1), min_size=1, max_size=50))
def test_ids_decode_back_to_their_delivery(delivery_ids):
    ids = DeliveryIds(KEYS)
    sends, links = ids.send_ids(delivery_ids), ids.link_ids(delivery_ids)
    assert [ids.delivery_for_send_id(v) for v in sends] == delivery_ids
    assert [ids.delivery_for_link_id(v) for v in links] == delivery_ids


def test_ids_are_32_hex_distinct_and_unlinkable():
    ids = DeliveryIds(KEYS)
    sends, links = ids.send_ids(range(1, 10_001)), ids.link_ids(range(1, 10_001))
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in sends + links)
    assert len(set(sends) | set(links)) == 20_000
    # Consecutive rows share nothing visible: the first byte is spread over all 256 values.
    assert len({v[:2] for v in sends}) == 256
    # A send id is not a link id (purpose tags), so neither can stand in for the other.
    assert ids.delivery_for_link_id(sends[0]) is None
    assert ids.delivery_for_send_id(links[0]) is None


def test_foreign_and_malformed_values_decode_to_nothing():
    ids = DeliveryIds(KEYS)
    other = DeliveryIds({"a": "another-secret-key-0123456789abcdefghijkl"})
    assert ids.delivery_for_send_id(other.send_ids([7])[0]) is None
    for junk in (None, 7, "", "zz" * 16, secrets.token_hex(16), secrets.token_hex(17), "A" * 32):
        assert ids.delivery_for_send_id(junk) is None
        assert ids.delivery_for_link_id(junk) is None


def test_ids_made_under_a_retired_key_still_decode():
    old = DeliveryIds(KEYS)
    rotated = DeliveryIds({"a": "the-new-secret-key-0123456789abcdefghijk", "b": KEYS["a"]})
    assert rotated.delivery_for_link_id(old.link_ids([42])[0]) == 42
    assert rotated.delivery_for_send_id(old.send_ids([42])[0]) == 42
    assert rotated.send_ids([42]) != old.send_ids([42])
