import datetime as dt

import pytest

from newsletter.articles import load_article, parse_article
from newsletter.articles.model import Image, ListBlock, Quote
from newsletter.errors import ArticleError
from tests.seed import SEED_DIR, SEED_TEXT


def parse(text: str):
    return parse_article(text.encode(), name="a.md", where="a.md")


def test_seed_markdown_matches_the_plain_text_import():
    md = load_article(SEED_DIR / "neuroplasticity-ketamine.md")
    txt = load_article(SEED_TEXT)
    assert md.title == txt.title
    assert md.headings == txt.headings
    assert [p.text for p in md.paragraphs] == [p.text for p in txt.paragraphs]
    assert md.call_to_action.text == txt.call_to_action.text
    assert md.hero_image == "https://mindstream.example/images/man-on-mountaintop.jpg"
    assert md.date == dt.date(2026, 11, 2)


def test_front_matter_wins_over_inference():
    article = parse(
        "---\ntitle: From Front Matter\nsummary: A calm summary.\n"
        "cta: {text: Call us today., url: 'https://book.example/now', label: Book now}\n---\n"
        "# Body Title\n\nFirst paragraph. Contact us any time.\n"
    )
    assert article.title == "From Front Matter"
    assert article.summary == "A calm summary."
    assert article.preheader == "A calm summary."
    assert article.call_to_action.url == "https://book.example/now"
    assert article.call_to_action.label == "Book now"


def test_body_h1_is_the_title_and_h2_are_sections():
    article = parse(
        "# The Title\n\nIntro **bold** and [a link](https://example.org).\n\n"
        "## Part One\n\n- item *one*\n- item two\n\n> quoted words\n\n"
        "![A chart](https://example.org/chart.png)\n"
    )
    assert article.title == "The Title"
    assert article.headings == ["Part One"]
    spans = article.paragraphs[0].inline
    assert any(s.bold and s.text == "bold" for s in spans)
    assert any(s.href == "https://example.org" for s in spans)
    blocks = article.sections[1].blocks
    assert isinstance(blocks[0], ListBlock)
    assert isinstance(blocks[1], Quote)
    assert isinstance(blocks[2], Image) and blocks[2].alt == "A chart"


def test_unsafe_and_relative_links():
    article = parse(
        "---\ncanonical_url: https://clinic.example/blog/post\n---\n# T\n\n"
        "[js](javascript:alert(1)) and [rel](/about) and [mail](mailto:hi@clinic.example)\n"
    )
    hrefs = [s.href for s in article.paragraphs[0].inline if s.href]
    assert hrefs == ["https://clinic.example/about", "mailto:hi@clinic.example"]


def test_trailing_sources_heading_becomes_sources():
    article = parse("# T\n\nBody text.\n\n## Sources\n\n- [Study A](https://doi.org/1)\n- Book B\n")
    assert [(s.text, s.url) for s in article.sources] == [
        ("Study A", "https://doi.org/1"),
        ("Book B", None),
    ]
    assert article.headings == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: [unclosed\n---\nBody.\n", "not valid YAML"),
        ("---\ntitle: T\n---\n", "no body paragraphs"),
        ("Just one paragraph with no title marker.\n", "has no title"),
    ],
)
def test_bad_markdown_is_reported(text, expected):
    with pytest.raises(ArticleError) as info:
        parse(text)
    assert expected in str(info.value)
    assert "Fix:" in str(info.value)


def test_unknown_fields_and_bad_dates_are_warnings_not_refusals():
    article = parse("---\ntitel: Typo\nlayout: post\ndate: yesterday\n---\n# T\n\nBody.\n")
    assert article.title == "T"
    assert article.date is None
    assert "front matter `date` 'yesterday' is not a date; ignored" in article.warnings[0]
    assert article.warnings[1] == (
        "front matter field(s) ignored (not used in emails): layout, titel"
    )
