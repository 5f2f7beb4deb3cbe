import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from newsletter.errors import ValidationError
from newsletter.rendering.links import (
    LinkPolicy,
    LinkTable,
    check_campaign_key,
    default_campaign_key,
    redirect_href,
    with_utm,
)

POLICY = LinkPolicy(
    booking_url="https://clinic.example/book",
    website_url="https://clinic.example",
    public_url="https://news.clinic.example",
    canonical_url="https://clinic.example/blog/post-1",
)


def test_utm_parameters_are_added():
    url = with_utm("https://example.org/a?x=1", campaign="newsletter-2026-12", content="L3")
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "x": ["1"],
        "utm_source": ["newsletter"],
        "utm_medium": ["email"],
        "utm_campaign": ["newsletter-2026-12"],
        "utm_content": ["L3"],
    }


def test_existing_utm_values_are_kept():
    url = with_utm("https://example.org/?utm_source=partner", campaign="c1", content="L1")
    assert parse_qs(urlsplit(url).query)["utm_source"] == ["partner"]


def test_mailto_is_left_alone():
    assert with_utm("mailto:hi@example.org", campaign="c1", content="L1") == "mailto:hi@example.org"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://clinic.example/book", "consultation"),
        ("https://clinic.example/book/ketamine?x=1", "consultation"),
        ("https://clinic.example/blog/post-1", "article"),
        ("https://clinic.example/about", "article"),
        ("https://news.clinic.example/u/abc", "unsubscribe"),
        ("https://doi.org/10.1/x", "other"),
    ],
)
def test_link_kinds(url, kind):
    assert POLICY.kind(url) == kind


def test_a_dedicated_booking_domain_is_consultation_everywhere():
    policy = LinkPolicy(
        "https://book.janeapp.example/clinic",
        "https://clinic.example",
        "https://news.clinic.example",
    )
    assert policy.kind("https://book.janeapp.example/other-page") == "consultation"


def test_link_ids_are_stable_per_url_and_tracking_uses_one_token():
    table = LinkTable(POLICY, campaign_key="newsletter-2026-12", click_tracking=True)
    first = table.href("https://doi.org/a")
    again = table.href("https://doi.org/a")
    second = table.href("https://clinic.example/book")
    assert first == again == "https://news.clinic.example/r/L1/-nl_rt-"
    assert second == "https://news.clinic.example/r/L2/-nl_rt-"
    assert [link.kind for link in table.links] == ["other", "consultation"]
    assert "utm_content=L2" in table.links[1].url


def test_redirect_href_is_a_pure_function():
    assert redirect_href("https://n.example/", "L7", "TOKEN") == "https://n.example/r/L7/TOKEN"


def test_campaign_key_default_and_validation():
    assert default_campaign_key(dt.date(2026, 12, 3)) == "newsletter-2026-12"
    assert check_campaign_key("spring-events") == "spring-events"
    for bad in ("Ketamine Therapy!", "", "a", "x" * 41, "café"):
        with pytest.raises(ValidationError):
            check_campaign_key(bad)
