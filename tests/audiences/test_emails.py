"""Email normalisation and validation (newsletter.audiences.emails)."""

from __future__ import annotations

import email_validator
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.audiences.emails import _fast_ok, normalize_email, validate_email


@pytest.mark.parametrize(
    "variant",
    ["Alice@Example.com", "  alice@example.com\t", "ALICE@EXAMPLE.COM", "alice@example.COM\n"],
)
def test_case_and_whitespace_variants_are_one_address(variant: str) -> None:
    assert normalize_email(variant) == "alice@example.com"
    assert validate_email(variant) == "alice@example.com"


def test_normalize_applies_nfc() -> None:
    decomposed = "jose\u0301@example.com"  # e + combining acute accent
    assert normalize_email(decomposed) == "jos\u00e9@example.com"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("alice.example.com", "missing @"),
        ("alice@localhost", "domain has no dot"),
        ("a" * 250 + "@example.com", "address longer than 254 characters"),
        ("", "empty address"),
        ("   ", "empty address"),
    ],
)
def test_short_reasons(raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_email(raw)
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("a..b@example.com", "two periods in a row"),
        ("alice@example..com", "two periods in a row"),
        ("alice@foo.test", "special-use or reserved"),
        ("al ice@example.com", "invalid characters"),
        ("@example.com", "something before the @-sign"),
        ("alice@-example.com", "hyphen"),
    ],
)
def test_email_validator_reasons(raw: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_email(raw)
    assert fragment in str(caught.value)


def test_international_domains_are_normalised_to_a_fixed_point() -> None:
    assert validate_email("X@BÜCHER.de") == "x@bücher.de"
    assert validate_email("x@xn--bcher-kva.de") == "x@bücher.de"
    fullwidth = "x@ｅxample.com"
    assert validate_email(fullwidth) == "x@example.com"
    assert normalize_email(validate_email(fullwidth)) == validate_email(fullwidth)


def test_example_domains_are_accepted_without_dns() -> None:
    assert validate_email("news@mindstream.example") == "news@mindstream.example"
    assert validate_email("someone+tag@example.org") == "someone+tag@example.org"


_ASCII = "abcxyzAZ019.-_+=!#'@ "
_addresses = st.one_of(
    st.text(alphabet=_ASCII, max_size=30),
    st.builds(
        lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
        st.text(alphabet="abcXYZ09._+-=!'#", min_size=1, max_size=20),
        st.lists(st.text(alphabet="abz09-", min_size=1, max_size=8), min_size=1, max_size=3),
        st.sampled_from(["com", "org", "example", "test", "local", "c0m", "io", "x", "COM"]),
    ),
    st.text(max_size=20).map(lambda s: f"{s}@example.org"),
)


@settings(max_examples=400, deadline=None)
@given(_addresses)
def test_agrees_with_email_validator(raw: str) -> None:
    """The fast path never changes the verdict or the result of email-validator."""
    normalized = normalize_email(raw)
    try:
        expected = normalize_email(
            email_validator.validate_email(normalized, check_deliverability=False).normalized
        )
    except email_validator.EmailNotValidError:
        expected = None
    if _fast_ok(normalized):
        assert expected == normalized
    try:
        got = validate_email(raw)
    except ValueError:
        got = None
    assert got == expected
    if got is not None:
        assert normalize_email(got) == got
