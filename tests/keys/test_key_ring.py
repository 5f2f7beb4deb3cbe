"""The key ring's text format and its pure helpers."""

import pytest

from newsletter.domain.subscribers import email_hash, lookup_hashes
from newsletter.keys.ring import KeyRing, KeyRingError

A = "a" * 40
B = "b" * 40


def test_a_bare_secret_is_key_a():
    ring = KeyRing.parse(A)
    assert ring.current_id == "a" and ring.current == A and ring.ids == ("a",)


def test_entries_current_first_separated_by_spaces_commas_or_lines():
    for text in (f"b:{B} a:{A}", f"b:{B},a:{A}", f"# rotated 2026-12\nb:{B}\na:{A}\n"):
        ring = KeyRing.parse(text)
        assert ring.current_id == "b" and ring.current == B
        assert dict(ring.as_mapping()) == {"b": B, "a": A}
        assert list(ring.as_mapping()) == ["b", "a"]  # the current key first


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "no key"), ("a:short", "shorter than 32"), (f"a:{A} a:{B}", "given twice"),
     (f"{A} a:{B}", "given twice")],
)  # fmt: skip
def test_malformed_rings_are_refused(text, reason):
    with pytest.raises(KeyRingError, match=reason):
        KeyRing.parse(text)


def test_repr_never_shows_a_secret():
    ring = KeyRing.parse(f"b:{B} a:{A}")
    assert A not in repr(ring) and B not in repr(ring) and B not in str(ring)


def test_fingerprints_tell_keys_apart_without_revealing_them():
    ring = KeyRing.parse(f"b:{B} a:{A}")
    assert ring.fingerprint("a") != ring.fingerprint("b")
    assert ring.fingerprint("a") == KeyRing.parse(A).fingerprint("a")
    assert A not in ring.fingerprint("a")


def test_next_id_is_the_first_unused():
    assert KeyRing.parse(A).next_id() == "b"
    assert KeyRing.parse(f"b:{B} a:{A}").next_id() == "c"


def test_lookups_hash_every_form_under_every_key_current_first():
    ring = KeyRing.parse(f"b:{B} a:{A}")
    found = lookup_hashes(ring, ["john@example.com", "ｊohn@example.com"])
    assert found == [
        email_hash(B, "john@example.com"),
        email_hash(A, "john@example.com"),
        email_hash(B, "ｊohn@example.com"),
        email_hash(A, "ｊohn@example.com"),
    ]
    assert email_hash(ring, "x@example.com") == email_hash(B, "x@example.com")
