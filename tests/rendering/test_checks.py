"""Each pre-send check fails on the problem it exists for."""

import dataclasses

import pytest

from newsletter.rendering.checks import Expectations, run_checks
from newsletter.rendering.compose import PersonalEmail

PUBLIC = "https://news.clinic.example"
ADDRESS = "1 Main St, Philadelphia, PA 19103"
GOOD_HTML = (
    "<html><body><div style='display:none'>Preheader text</div>"
    "<img src='https://cdn.example/a.png' alt='A calm lake'>"
    "<a href='https://clinic.example/book'>Book</a>"
    f"<p>{ADDRESS}</p><a href='{PUBLIC}/u/GOODTOKEN'>Unsubscribe</a></body></html>"
)
GOOD = PersonalEmail(
    subject="News from the clinic",
    preheader="Preheader text",
    sender="Clinic <news@clinic.example>",
    reply_to="hello@clinic.example",
    html=GOOD_HTML,
    text=f"Body\n{ADDRESS}\nUnsubscribe: {PUBLIC}/u/GOODTOKEN\n",
    list_unsubscribe=f"{PUBLIC}/u/GOODTOKEN",
)
EXPECT = Expectations(PUBLIC, ADDRESS, lambda token: token == "GOODTOKEN")


def statuses(email):
    return {c.name: c.status for c in run_checks(email, EXPECT)}


def test_a_good_email_passes_everything():
    assert set(statuses(GOOD).values()) == {"ok"}


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"html": GOOD_HTML.replace("alt='A calm lake'", "")}, "Image alt text"),
        (
            {"html": GOOD_HTML.replace("https://clinic", "http://clinic")},
            "Links absolute and https",
        ),
        (
            {"html": GOOD_HTML.replace("https://clinic.example/book", "/book")},
            "Links absolute and https",
        ),
        (
            {"html": GOOD_HTML.replace(f"{PUBLIC}/u/GOODTOKEN", "https://x.example")},
            "Unsubscribe link",
        ),
        ({"html": GOOD_HTML.replace("GOODTOKEN", "FORGED")}, "Unsubscribe link"),
        ({"text": "no link\n" + ADDRESS}, "Unsubscribe link"),
        ({"html": GOOD_HTML.replace(ADDRESS, "")}, "Postal address"),
        ({"html": GOOD_HTML + "{{ first_name }}"}, "No template leftovers"),
        ({"html": GOOD_HTML + "<mj-text>"}, "No template leftovers"),
        ({"text": GOOD.text + "-nl_fn_text-"}, "No template leftovers"),
        (
            {"html": GOOD_HTML.replace("display:none", "display:none\\ncolor:red")},
            "Attribute values",
        ),
        ({"subject": "x" * 79}, "Subject"),
        ({"preheader": ""}, "Preheader"),
        ({"html": GOOD_HTML + "<p>" + "x" * 105_000 + "</p>"}, "HTML size"),
    ],
)
def test_each_check_catches_its_problem(change, check):
    assert statuses(dataclasses.replace(GOOD, **change))[check] == "fail"


def test_http_public_url_on_localhost_is_only_a_warning():
    local = "http://127.0.0.1:8000"
    email = dataclasses.replace(
        GOOD,
        html=GOOD_HTML.replace(PUBLIC, local),
        text=GOOD.text.replace(PUBLIC, local),
    )
    result = {
        c.name: c.status for c in run_checks(email, dataclasses.replace(EXPECT, public_url=local))
    }
    assert result["Links absolute and https"] == "ok"
    assert result["Public URL"] == "warn"


def test_an_http_image_is_a_warning_that_names_it():
    email = dataclasses.replace(
        GOOD, html=GOOD_HTML.replace("https://cdn.example/a.png", "http://cdn.example/a.png")
    )
    checks = {c.name: c for c in run_checks(email, EXPECT)}
    assert checks["Images https"].status == "warn"
    assert "http://cdn.example/a.png" in checks["Images https"].detail
    assert checks["Links absolute and https"].status == "ok"  # images are not links
    assert not [c for c in checks.values() if c.status == "fail"]
