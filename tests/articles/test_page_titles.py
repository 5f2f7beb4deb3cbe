"""An HTML page's headline by agreement between its candidates, never a navigation,
sidebar or section heading (issue #12, build item 5)."""

from __future__ import annotations

import pytest

from newsletter.articles import parse_article

BODY = (
    "<p>First paragraph of the article, long enough to be the start of the real text here.</p>"
    "<p>Second paragraph of the article, which keeps going for a while longer as well.</p>"
)


def title(head: str, body: str, name: str = "page.html") -> str:
    page = f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"
    return parse_article(page.encode(), name=name).title


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        # the visible headline that metadata agrees with, not the social-media title
        (
            "<title>Loneliness raises heart risk, study finds - The Ledger</title>"
            "<meta property='og:title' content='Loneliness is as bad as smoking'>",
            "<article><h1>Loneliness raises heart risk, study finds</h1>" + BODY + "</article>",
            "Loneliness raises heart risk, study finds",
        ),
        # a section banner <h1> above the article (a hospital's "center" page)
        (
            "<title>Panic Attacks Explained | Anxiety Center | Riverbend</title>",
            "<div class='center-banner'><h1>Anxiety Center</h1></div>"
            "<article><h1>Panic Attacks Explained</h1>" + BODY + "</article>",
            "Panic Attacks Explained",
        ),
        # an about widget's <h1> in a sidebar that comes first in the page
        (
            "<title>Therapy notes – What I Tell Clients</title>",
            "<aside class='widget'><h1>Hi, I'm Nicolas.</h1><p>I am a counsellor.</p></aside>"
            "<article><h2 class='entry-title'>What I Tell Clients</h2>" + BODY + "</article>",
            "What I Tell Clients",
        ),
        # SEO breadcrumbs wrap the last crumb in <h1>; the article header has the headline
        (
            "<title>Adele: slimmer than ever | Jolie</title><meta property='og:title' "
            "content='Adele: slimmer than ever'>",
            "<nav class='breadcrumb'><ol><li><a href='/'>Home</a></li><li><h1>Adele: slimmer "
            "than ever</h1></li></ol></nav><article><header><h2>10 kilos lighter: Adele looks "
            "slimmer than ever</h2></header>" + BODY + "</article>"
            '<script type=\'application/ld+json\'>{"@type": "NewsArticle", "headline": '
            '"10 kilos lighter: Adele looks slimmer than ever"}</script>',
            "10 kilos lighter: Adele looks slimmer than ever",
        ),
        # the dek under the headline is not the title
        (
            "<title>Sleep and Mood | Calm Clinic</title>",
            "<article><h1>Sleep and Mood</h1><h2 class='dek'>Why rest is part of treatment, and "
            "what we ask about it</h2>" + BODY + "</article>",
            "Sleep and Mood",
        ),
        # no visible match: the metadata that agrees with itself, without the site name
        (
            "<title>Five Myths About TMS | Lakeside Clinic</title>"
            "<meta property='og:title' content='Five Myths About TMS'>"
            "<meta property='og:site_name' content='Lakeside Clinic'>",
            "<div class='logo'><h1>Lakeside Clinic</h1></div>" + BODY,
            "Five Myths About TMS",
        ),
        # only a <title>: its site-name prefix or suffix goes
        (
            "<title>Lakeside Clinic | What to Expect at TMS</title>"
            "<meta property='og:site_name' content='Lakeside Clinic'>",
            BODY,
            "What to Expect at TMS",
        ),
    ],
)
def test_the_headline_is_chosen_by_agreement(head, body, expected):
    assert title(head, body) == expected


def test_a_section_label_and_the_site_name_are_never_the_title():
    body = "<h1>Blog</h1><div class='site-title'><h1>Calm Clinic</h1></div>" + BODY
    assert title("<title>Winter Mood Changes | Calm Clinic</title>", body) == "Winter Mood Changes"


def test_an_h1_inside_the_article_wins_over_an_h2_teaser_in_a_related_list():
    body = (
        "<article><h1>Grief on Anniversaries</h1>" + BODY + "</article>"
        "<section class='related'><h2>Holiday Stress Without Guilt</h2></section>"
    )
    assert title("<title>Grief on Anniversaries</title>", body) == "Grief on Anniversaries"


def test_permalink_marks_leave_headings_and_titles():
    body = "<main><h1>Installation¶</h1>" + BODY + "<h2>History[edit]</h2>" + BODY + "</main>"
    article = parse_article(
        f"<html><head><title>Installation — Docs</title></head><body>{body}</body></html>".encode(),
        name="p.html",
    )
    assert article.title == "Installation"
    assert article.headings == ["History"]
