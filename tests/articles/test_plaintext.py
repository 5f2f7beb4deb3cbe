import pytest

from newsletter.articles import parse_article
from newsletter.articles.model import ListBlock, Paragraph
from newsletter.errors import ArticleError
from tests.seed import SEED_TEXT


def parse(text: str, name: str = "a.txt"):
    return parse_article(text.encode(), name=name, where=name)


def test_seed_article_structure():
    article = parse_article(SEED_TEXT.read_bytes(), name=SEED_TEXT.name)
    assert article.title == "The Role of Neuroplasticity in Mental Health: How Ketamine Helps"
    assert article.hero_alt == "Man rejoicing on mountaintop, how ketamine rewires neuroplasticity"
    assert article.headings == ["The Most Important Organ", "Automatic Reorganization"]
    texts = [p.text for p in article.paragraphs]
    assert len(texts) == 7
    assert texts[2] == "But what happens if your brain gets damaged?"
    assert texts[0].startswith("The brain is a complex organ")
    assert article.call_to_action is not None
    assert "contact us at Mindstream Medicine" in article.call_to_action.text
    assert article.sources == ()
    assert article.preheader.startswith("The brain is a complex organ")


def test_every_seed_paragraph_is_kept_verbatim():
    raw = SEED_TEXT.read_text()
    article = parse_article(raw.encode(), name="seed.txt")
    source_paragraphs = [line.strip() for line in raw.splitlines() if len(line.strip()) > 100]
    assert [p.text for p in article.paragraphs if len(p.text) > 100] == source_paragraphs


def test_title_alone_without_caption():
    article = parse("A Short Title\n\nFirst paragraph of the article, with a full stop.\n")
    assert article.title == "A Short Title"
    assert article.hero_alt == ""


def test_title_case_first_line_followed_by_heading_is_not_a_caption():
    article = parse("Winter Events at the Clinic\n\nWhat to Expect\n\nWe host talks every month.\n")
    assert article.title == "Winter Events at the Clinic"
    assert article.headings == ["What to Expect"]


def test_explicit_caption_prefix():
    article = parse("Photo: a calm lake at dawn\nCalm Mornings\n\nBody text here.\n")
    assert article.hero_alt == "a calm lake at dawn"
    assert article.title == "Calm Mornings"


def test_sources_list_with_urls_and_bare_links():
    article = parse(
        "Title\n\nRead more at https://example.org/study for details.\n\n"
        "Sources:\nSmith 2020, https://doi.org/10.1000/xyz\nJones 2021\n"
    )
    assert [s.text for s in article.sources] == [
        "Smith 2020, https://doi.org/10.1000/xyz",
        "Jones 2021",
    ]
    assert article.sources[0].url == "https://doi.org/10.1000/xyz"
    link = [s for s in article.paragraphs[0].inline if s.href]
    assert link[0].href == "https://example.org/study"


def test_lists_and_hard_wrapped_paragraphs():
    article = parse(
        "Title\n\nThis paragraph was hard\nwrapped by an editor\nat short widths.\n\n"
        "- first item\n- second item\n"
    )
    assert article.paragraphs[0].text == (
        "This paragraph was hard wrapped by an editor at short widths."
    )
    lists = [b for s in article.sections for b in s.blocks if isinstance(b, ListBlock)]
    assert [[span.text for span in item] for item in lists[0].items] == [
        ["first item"],
        ["second item"],
    ]


def test_crlf_and_bom_are_accepted():
    data = "\ufeffTitle\r\n\r\nBody paragraph here.\r\n".encode()
    article = parse_article(data, name="x.txt")
    assert article.title == "Title"
    assert isinstance(article.sections[0].blocks[0], Paragraph)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"Only a title\n", "no body paragraphs"),
        (b"\x00\x01\x02binary", "binary"),
        (("x" * 400 + "\n\nBody text.").encode(), "title is 400 characters"),
    ],
)
def test_bad_input_gives_a_clear_error(data, expected):
    with pytest.raises(ArticleError) as info:
        parse_article(data, name="bad.txt", where="bad.txt")
    message = str(info.value)
    assert expected in message
    assert "bad.txt" in message
    assert "Fix:" in message


def test_missing_file_is_reported(tmp_path):
    from newsletter.articles import load_article

    with pytest.raises(ArticleError, match="no such file"):
        load_article(tmp_path / "nope.txt")


def test_windows_1252_text_is_read_with_a_warning():
    data = "Caf\u00e9 \u201cau lait\u201d\n\nBody text, with a \u2019quote\u2019.\n".encode(
        "cp1252"
    )
    article = parse_article(data, name="legacy.txt", where="legacy.txt")
    assert article.title == "Café “au lait”"
    assert article.paragraphs[0].text == "Body text, with a ’quote’."
    assert article.warnings == (
        "the file is not all UTF-8 (from line 1); those characters were read as "
        "Windows-1252: check accented letters and quotes, or save the file as UTF-8",
    )


def test_invalid_utf16_is_refused():
    with pytest.raises(ArticleError, match="invalid UTF-16 text"):
        parse_article(b"\xff\xfe\x00\xd8", name="bad.txt", where="bad.txt")
