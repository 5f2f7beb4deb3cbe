"""Front matter belongs to the site: YAML, TOML or JSON, any generator's keys, never a
refusal for a field we do not use (issue #12, build item 1)."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.articles import parse_article
from newsletter.articles.fields import read_fields
from newsletter.errors import ArticleError

BODY = "\n# Body Title\n\nFirst paragraph of the post, with enough words to be a paragraph.\n"


def md(front_matter: str, body: str = BODY):
    return parse_article(
        f"---\n{front_matter}---\n{body}".encode(),
        name="post.md",
        where="post.md",
        site_url="https://clinic.example",
    )


@pytest.mark.parametrize(
    ("front_matter", "field", "expected"),
    [
        ("headline: From Headline\n", "title", "From Headline"),
        ("heading: From Heading\n", "title", "From Heading"),
        ("description: From description\n", "summary", "From description"),
        ("excerpt: From excerpt\n", "summary", "From excerpt"),
        ("subtitle: From subtitle\n", "summary", "From subtitle"),
        ("dek: From dek\n", "summary", "From dek"),
        ("lede: From lede\n", "summary", "From lede"),
        ("featuredImage: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("featured_image: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("featuredimage: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("cover: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("cover_image: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("coverImage: a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("thumbnail: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("og_image: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("hero_image: /a.jpg\n", "hero_image", "https://clinic.example/a.jpg"),
        ("images: [/a.jpg, /b.jpg]\n", "hero_image", "https://clinic.example/a.jpg"),
        ("image: {src: /a.jpg, alt: A lake}\n", "hero_alt", "A lake"),
        ("image: {path: /a.jpg, alt: A lake}\n", "hero_image", "https://clinic.example/a.jpg"),
        ("cover: {image: /a.jpg, alt: A lake}\n", "hero_alt", "A lake"),
        ("image: /a.jpg\nimage_alt: Alt one\nhero_alt: Alt two\n", "hero_alt", "Alt one"),
        ("publishDate: 2024-03-12\n", "date", dt.date(2024, 3, 12)),
        ("published: 2024-03-12T23:30:00-08:00\n", "date", dt.date(2024, 3, 12)),
        ("pubDate: Tue, 12 Mar 2024 10:00:00 +0000\n", "date", dt.date(2024, 3, 12)),
        ("date: March 12, 2024\n", "date", dt.date(2024, 3, 12)),
        ("date: 2024-03-12 07:30:00 -0500\n", "date", dt.date(2024, 3, 12)),
        ("date: 2024-03-12T07:30:00Z\n", "date", dt.date(2024, 3, 12)),
        ("authors: [Ana, Ben]\n", "author", "Ana, Ben"),
        ("author: {name: Ana Ruiz}\n", "author", "Ana Ruiz"),
        ("authors: [{name: Ana}, {name: Ben}]\n", "author", "Ana, Ben"),
        ("categories: [news, sleep]\n", "tags", ("news", "sleep")),
        ("keywords: sleep, anxiety\n", "tags", ("sleep", "anxiety")),
        ("tags: [{name: TMS}]\n", "tags", ("TMS",)),
        ("canonical: https://x.example/a\n", "canonical_url", "https://x.example/a"),
        ("permalink: https://x.example/p\n", "canonical_url", "https://x.example/p"),
        ("url: /blog/post/\n", "canonical_url", "https://clinic.example/blog/post/"),
        ("original-url: https://x.example/o\n", "canonical_url", "https://x.example/o"),
    ],
)
def test_aliases_in_their_usual_shapes(front_matter, field, expected):
    article = md(front_matter)
    assert getattr(article, field) == expected
    assert not any("ignored" in warning for warning in article.warnings)


@pytest.mark.parametrize(
    ("front_matter", "field", "expected"),
    [
        # today's keys win over aliases, whatever the order they are written in
        ("excerpt: Alias\nsummary: Today\n", "summary", "Today"),
        ("description: Alias\npreheader: Today\n", "summary", "Today"),
        ("featuredImage: /alias.jpg\nimage: /today.jpg\n", "hero_image",
         "https://clinic.example/today.jpg"),
        ("headline: Alias\ntitle: Today\n", "title", "Today"),
        ("permalink: https://x.example/alias\ncanonical_url: https://x.example/today\n",
         "canonical_url", "https://x.example/today"),
        # among aliases, the first the issue lists wins
        ("excerpt: Second\ndescription: First\n", "summary", "First"),
        ("cover: /second.jpg\nfeaturedImage: /first.jpg\n", "hero_image",
         "https://clinic.example/first.jpg"),
        ("pubDate: 2020-01-01\npublishDate: 2021-02-02\n", "date", dt.date(2021, 2, 2)),
        ("keywords: [third]\ncategories: [second]\n", "tags", ("second",)),
        ("url: https://x.example/second\npermalink: https://x.example/first\n",
         "canonical_url", "https://x.example/first"),
        ("heading: Second\nheadline: First\n", "title", "First"),
    ],
)  # fmt: skip
def test_todays_keys_win_then_the_first_alias(front_matter, field, expected):
    assert getattr(md(front_matter), field) == expected


def test_the_title_comes_from_the_body_heading_when_the_front_matter_has_none():
    assert md("layout: post\n").title == "Body Title"


def test_unknown_keys_are_ignored_with_one_warning_that_lists_them():
    article = md(
        "title: T\ntemplateKey: blog-post\nlayout: post\ncomments: true\n"
        "seo: {title: x}\nparams: {math: true}\n"
    )
    assert article.title == "T"
    assert article.warnings == (
        "front matter field(s) ignored (not used in emails): comments, layout, params.math, "
        "seo, templateKey",
    )


def test_draft_true_warns():
    assert any("draft" in w for w in md("title: T\ndraft: true\n").warnings)
    assert not any("draft" in w for w in md("title: T\ndraft: false\n").warnings)
    assert any("draft" in w for w in md("title: T\nstatus: draft\n").warnings)


def test_toml_front_matter():
    article = parse_article(
        b'+++\ntitle = "Hugo Post"\ndate = 2024-05-02T09:00:00+02:00\ntags = ["a", "b"]\n'
        b'[params]\nfeatured_image = "https://cdn.example/h.jpg"\n+++\n\nBody of the post.\n',
        name="post.md",
    )
    assert (article.title, article.date, article.tags) == (
        "Hugo Post", dt.date(2024, 5, 2), ("a", "b")
    )  # fmt: skip
    assert article.hero_image == "https://cdn.example/h.jpg"


def test_json_front_matter():
    article = parse_article(
        b'{\n  "title": "JSON Post",\n  "tags": ["x"],\n  "date": "2023-12-01"\n}\n\nBody text.\n',
        name="post.md",
    )
    assert (article.title, article.tags, article.date) == (
        "JSON Post",
        ("x",),
        dt.date(2023, 12, 1),
    )


@pytest.mark.parametrize(
    ("source", "where", "message"),
    [
        ("---\ntitle: T\ntags: [a, b\n---\nBody.\n", "line 4, column 1", "not valid YAML"),
        ("---\ntitle: T\n  bad: indent\n---\nBody.\n", "line 3, column 6", "not valid YAML"),
        ('+++\ntitle = "T"\ndate = \n+++\nBody.\n', "line 3, column 8", "TOML"),
        ('{"title": "T",\n "tags": [1,]}\nBody.\n', "line 2, column 13", "JSON"),
    ],
)
def test_front_matter_errors_name_line_and_column(source, where, message):
    with pytest.raises(ArticleError) as caught:
        parse_article(source.encode(), name="post.md", where="post.md")
    text = str(caught.value)
    assert f"post.md, {where}" in text and message in text and "Fix:" in text


def test_an_unquoted_colon_in_a_value_is_read_line_by_line_with_a_warning():
    article = md("title: Anxiety: a guide for parents\ntags:\n  - anxiety\n")
    assert article.title == "Anxiety: a guide for parents"
    assert article.tags == ("anxiety",)
    assert "not valid YAML (line 2, column 15)" in article.warnings[0]


def test_yaml_tags_never_construct_objects(tmp_path):
    marker = tmp_path / "constructed"
    article = md(
        f"title: Safe\nx: !!python/object/apply:os.system ['touch {marker}']\n"
        "y: !!python/name:os.system\nz: !Ref something\n"
    )
    assert article.title == "Safe"
    assert not marker.exists()
    assert "x, y, z" in article.warnings[-1]  # read as plain values, listed as unknown


def test_fields_keep_the_key_spelling_the_site_used_in_the_warning():
    fields = read_fields({"Featured-Image": "/a.jpg", "TemplateKey": "post"})
    assert fields.image == "/a.jpg"
    assert fields.warnings == ("front matter field(s) ignored (not used in emails): TemplateKey",)
