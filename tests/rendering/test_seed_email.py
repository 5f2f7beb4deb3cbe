"""The seed article's email, in every input format, as a subscriber receives it."""

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from newsletter import tokens
from newsletter.articles import load_article
from newsletter.rendering.compose import compile_email
from newsletter.rendering.placeholders import Recipient
from newsletter.services.previews import preview_articles
from tests.seed import SEED_FORMATS, SEED_TEXT


def _norm(text: str) -> str:
    return " ".join(html.unescape(text).split())


@pytest.fixture(params=sorted(SEED_FORMATS))
def seed_preview(request, settings):
    return preview_articles([SEED_FORMATS[request.param]], settings, today=dt.date(2026, 12, 1))


def test_email_contains_the_whole_article(seed_preview):
    doc = lxml.html.document_fromstring(seed_preview.email.html)
    body_text = _norm(doc.text_content())
    text_part = _norm(seed_preview.email.text)
    reference = load_article(SEED_TEXT)
    assert reference.title in body_text
    for heading in ("The Most Important Organ", "Automatic Reorganization"):
        assert heading in body_text
        assert heading in text_part
    for paragraph in reference.paragraphs:
        assert _norm(paragraph.text) in body_text
        assert _norm(paragraph.text) in text_part
    assert "Hi Alex," in body_text


def test_consultation_button_with_utm(seed_preview, settings):
    doc = lxml.html.document_fromstring(seed_preview.email.html)
    buttons = [a for a in doc.iter("a") if "Book a consultation" in a.text_content()]
    assert buttons, "no Book a consultation button"
    href = buttons[0].get("href")
    # Click tracking is on by default: the button goes through the app's own redirect, whose
    # stored destination carries the UTM values.
    match = re.fullmatch(re.escape(settings.public_url) + r"/r/(L\d+)/([A-Za-z0-9_-]+)", href)
    assert match, href
    assert tokens.verify("preview", match[2], keys=settings.signing_keys)
    link = next(x for x in seed_preview.compiled.links if x.id == match[1])
    assert link.kind == "consultation"
    assert link.url.startswith(settings.booking_url)
    query = parse_qs(urlsplit(link.url).query)
    assert query["utm_source"] == ["newsletter"]
    assert query["utm_medium"] == ["email"]
    assert query["utm_campaign"] == ["newsletter-2026-12"]
    assert query["utm_content"] == [link.id]


def test_footer_address_and_working_unsubscribe_link(seed_preview, settings):
    doc = lxml.html.document_fromstring(seed_preview.email.html)
    assert settings.postal_address in _norm(doc.text_content())
    unsubscribe = [a.get("href") for a in doc.iter("a") if "Unsubscribe" in a.text_content()]
    assert len(unsubscribe) == 1
    token = unsubscribe[0].removeprefix(settings.public_url + "/u/")
    assert tokens.verify("preview", token, keys=settings.signing_keys)  # a preview's link
    assert seed_preview.email.list_unsubscribe == unsubscribe[0]
    assert unsubscribe[0] in seed_preview.email.text
    assert not seed_preview.failed, seed_preview.failed


# The seed's opening paragraph, cut at a word before 140 characters; its HTML page has a
# meta description, which wins.
OPENING = (
    "The brain is a complex organ in the body, it is what helps you be you. The brain is what "
    "helps you be you. However, damage to your brain…"
)
PREHEADERS = {
    "text": OPENING,
    "markdown": OPENING,
    "html": "In this blog post, we will explore the brain's importance and how ketamine can help "
    "treat mental health problems.",
}


def test_preheader_is_hidden_text_at_the_top(seed_preview, request):
    fmt = request.node.callspec.params["seed_preview"]
    assert seed_preview.email.preheader == PREHEADERS[fmt]
    head = seed_preview.email.html.split("<body", 1)[1][:3000]
    assert _norm(seed_preview.email.preheader) in _norm(head)


def test_first_name_is_escaped_and_falls_back(settings):
    compiled = compile_email([load_article(SEED_TEXT)], settings, today=dt.date(2026, 12, 1))
    hostile = compiled.personalize(Recipient("<script>x</script>", "u", "r"))
    assert "<script>x</script>" not in hostile.html
    assert "&lt;script&gt;x&lt;/script&gt;" in hostile.html
    assert "Hi <script>x</script>," in hostile.text
    nameless = compiled.personalize(Recipient(None, "u", "r"))
    assert "Hi there," in nameless.text


def test_compiled_once_filled_many_times(settings):
    compiled = compile_email([load_article(SEED_TEXT)], settings, today=dt.date(2026, 12, 1))
    assert compiled.html.tags_used >= {"-nl_fn_html-", "-nl_ut-"}
    a = compiled.personalize(Recipient("Ana", "tokA", "rA"))
    b = compiled.personalize(Recipient("Ben", "tokB", "rB"))
    assert "Hi Ana," in a.html and "Hi Ben," in b.html
    assert "/u/tokA" in a.html and "/u/tokB" not in a.html
    assert not re.search(r"-nl_\w+-", a.html + a.text)


def test_digest_lists_each_article(settings):
    md = load_article(SEED_FORMATS["markdown"])
    txt = load_article(SEED_TEXT)
    compiled = compile_email([md, txt], settings, template="digest", today=dt.date(2026, 12, 1))
    email = compiled.personalize(Recipient("Ana", "u", "r"))
    assert email.html.count(txt.title) >= 2
    assert "Book a consultation" in email.html
    assert compiled.subject == "News from Mindstream Medicine"
