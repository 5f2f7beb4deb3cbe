"""Plain text copied from a page: the page's chrome stays out, the byline's facts stay in,
lists stay lists, and `[1]` notes become the sources (issue #12, build item 4)."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.articles import parse_article
from newsletter.articles.chrome import byline, is_chrome_line, is_share_line
from newsletter.articles.model import ListBlock, plain

BODY = (
    "Anxiety is the body's alarm system going off when there is no fire. It is common, and "
    "it is treatable.\n\nMost people improve with therapy, and many within weeks.\n"
)


def text(source: str):
    return parse_article(source.encode(), name="copied.txt", where="copied.txt")


@pytest.mark.parametrize(
    "chrome",
    [
        "1.  Home\n2.  Blog\n3.  Anxiety, Explained\n\n",
        "1. Home\n\n2. Blog\n\n3. Anxiety, Explained\n\n",
        "Home > Blog > Anxiety, Explained\n\n",
        "Home / Resources / Anxiety, Explained\n\n",
        "Home » Blog » Anxiety, Explained\n\n",
        "Blog\n",
        "Skip to content\n",
    ],
)
def test_breadcrumbs_before_the_title_are_not_the_title(chrome):
    article = text(chrome + "Anxiety, Explained\n\n" + BODY)
    assert article.title == "Anxiety, Explained"
    assert not any("Home" in p.text or "Blog" in p.text for p in article.paragraphs)


def test_a_breadcrumb_trail_names_the_title_when_the_headline_line_is_missing():
    article = text("1. Home\n2. Blog\n3. Anxiety, Explained\n\n" + BODY)
    assert article.title == "Anxiety, Explained"
    assert article.paragraphs[0].text.startswith("Anxiety is the body's alarm")


@pytest.mark.parametrize(
    ("line", "author", "date"),
    [
        ("By Dr. Maya Patel • Published March 3, 2024 • 8 min read • Anxiety", "Dr. Maya Patel",
         dt.date(2024, 3, 3)),
        ("Posted on March 3, 2024 by Jane Doe", "Jane Doe", dt.date(2024, 3, 3)),
        ("By Jane Doe, LCSW | March 3, 2024", "Jane Doe, LCSW", dt.date(2024, 3, 3)),
        ("Written by Sam Lee", "Sam Lee", None),
        ("March 3, 2024 · 6 min read", "", dt.date(2024, 3, 3)),
        ("Last updated: 2024-01-09", "", dt.date(2024, 1, 9)),
    ],
)  # fmt: skip
def test_bylines_leave_the_body_and_keep_their_facts(line, author, date):
    article = text(f"Anxiety, Explained\n{line}\n\n{BODY}")
    assert (article.author, article.date) == (author, date)
    assert article.paragraphs[0].text.startswith("Anxiety is the body's alarm")


def test_a_sentence_that_starts_like_a_byline_is_kept():
    assert byline("By the time most people seek help, they have had symptoms for years.") is None
    article = text("Anxiety, Explained\n\nBy the time most people seek help, they wait years.\n")
    assert article.paragraphs[0].text == "By the time most people seek help, they wait years."


@pytest.mark.parametrize(
    "line",
    [
        "Share Share Pin Share Email",
        "Share",
        "Tweet",
        "Facebook Twitter LinkedIn Email",
        "Back to Blog",
        "← Back to all posts",
        "Read more",
        "Read More »",
        "Continue reading",
        "Tags: anxiety, sleep",
        "Filed under: Depression",
        "Leave a comment",
        "Print this page",
        "Photo by Jane Doe on Unsplash",
    ],
)
def test_chrome_lines(line):
    assert is_chrome_line(line)
    article = text(f"Anxiety, Explained\n\n{line}\n\n{BODY}\n{line}\n")
    assert all(line not in p.text for p in article.paragraphs)


@pytest.mark.parametrize(
    "line",
    [
        "Share your worries with someone you trust: it helps more than you think.",
        "Email us if you have questions about your first visit.",
        "Read more about panic attacks in our guide, written with our psychiatrists.",
        "We use cookies as a reward when training dogs, and the same principle applies.",
    ],
)
def test_sentences_using_chrome_words_are_kept(line):
    assert not is_chrome_line(line)
    article = text(f"Anxiety, Explained\n\n{BODY}\n{line}\n")
    assert any(p.text == line for p in article.paragraphs)


def test_share_words_need_a_share_word():
    assert is_share_line("Share Share Pin Share Email")
    assert not is_share_line("Email")  # a list item in a post about contact options


def test_cookie_notices_related_posts_and_footers_at_the_end_are_dropped():
    article = text(
        "Anxiety, Explained\n\n" + BODY + "\nContact us to book a consultation.\n\n"
        "Related Posts\nFive Myths About Therapy\nRead more\nWhen Worry Will Not Stop\n\n"
        "We use cookies to improve your experience on our website.\nAccept\n"
        "© 2024 Calm Clinic. All rights reserved.\n"
    )
    texts = " ".join(p.text for p in article.paragraphs)
    for chrome in ("Related Posts", "Five Myths", "cookies", "Accept", "©"):
        assert chrome not in texts
    assert article.call_to_action and article.call_to_action.text.startswith("Contact us")


def test_lists_stay_lists():
    article = text(
        "Anxiety, Explained\n\nSigns include:\n\nRacing thoughts\nTrouble sleeping\n"
        "A tight chest\n\n1. Breathe out slowly.\n\n2. Name five things you see.\n\n"
        "3. Call someone.\n\nThe end of the article, with a full stop.\n\n"
        "- a dash item\n• a bullet item\n"
    )
    lists = [b for s in article.sections for b in s.blocks if isinstance(b, ListBlock)]
    assert [([plain(i) for i in b.items], b.ordered) for b in lists] == [
        (["Racing thoughts", "Trouble sleeping", "A tight chest"], False),
        (["Breathe out slowly.", "Name five things you see.", "Call someone."], True),
        (["a dash item", "a bullet item"], False),
    ]


@pytest.mark.parametrize("heading", ["References", "Sources", "References:", "Bibliography"])
def test_markers_and_a_trailing_references_list_become_sources(heading):
    article = text(
        "Anxiety, Explained\n\nTherapy works for most people [1]. Medication helps some [2].\n\n"
        f"{heading}\n1. Smith J. A trial. 2020. https://doi.org/10.1/a\n2. Lee K. A review. 2021.\n"
    )
    assert (
        article.paragraphs[0].text
        == "Therapy works for most people [1]. Medication helps some [2]."
    )
    assert [(s.text, s.url) for s in article.sources] == [
        ("Smith J. A trial. 2020. https://doi.org/10.1/a", "https://doi.org/10.1/a"),
        ("Lee K. A review. 2021.", None),
    ]


def test_trailing_numbered_notes_without_a_heading_become_sources():
    article = text(
        "Anxiety, Explained\n\nTherapy works for most people [1].\n\n[1] Smith J. A trial. 2020.\n"
    )
    assert [s.text for s in article.sources] == ["[1] Smith J. A trial. 2020."]
    assert article.paragraphs[-1].text == "Therapy works for most people [1]."
