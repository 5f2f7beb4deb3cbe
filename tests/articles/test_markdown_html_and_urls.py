"""Raw HTML inside Markdown goes through the page sanitiser; GFM tables and footnotes
render; relative URLs resolve in the issue's order; images an inbox cannot show are
dropped with a warning naming them (issue #12, build items 1–3)."""

from __future__ import annotations

import pytest

from newsletter.articles import parse_article
from newsletter.articles.model import Heading, Image, ListBlock, Paragraph, plain

SITE = "https://clinic.example"


def md(text: str, **kwargs):
    return parse_article(text.encode(), name="post.md", where="post.md", **kwargs)


def blocks(article):
    return [b for s in article.sections for b in s.blocks]


def test_raw_html_headings_images_links_and_figures_are_kept():
    article = md(
        "# Title\n\nIntro paragraph of the post.\n\n<h2>Raw Section</h2>\n\n"
        "<h3>Raw Subsection</h3>\n\nText under it.\n\n"
        '<div align="center">\n  <img src="https://cdn.example/chart.png" alt="A chart">\n'
        "</div>\n\n"
        '<a href="https://cdc.example/page" target="_blank" rel="noopener">The CDC page</a> '
        "has more.\n\n"
        '<figure><img src="https://cdn.example/fig.jpg" alt="Fig">'
        "<figcaption>A caption worth keeping.</figcaption></figure>\n\n"
        "<script>alert(1)</script>\n\n<h4>Small heading</h4>\n\nLast words.\n"
    )
    assert article.headings == ["Raw Section"]
    found = blocks(article)
    assert Heading("Raw Subsection", level=3) in found
    assert Heading("Small heading", level=4) in found
    images = [b for b in found if isinstance(b, Image)]
    assert [(i.src, i.alt, i.caption) for i in images] == [
        ("https://cdn.example/chart.png", "A chart", ""),
        ("https://cdn.example/fig.jpg", "Fig", "A caption worth keeping."),
    ]
    assert "https://cdc.example/page" in article.links()
    assert not any("alert" in p.text for p in article.paragraphs)


def test_a_heading_swallowed_into_an_html_block_is_recovered():
    article = md(
        '# Title\n\nIntro.\n\n<div align="center">\n<img src="https://cdn.example/a.png" '
        'alt="A">\n</div>\n## Recovered Heading\nText after the heading.\n'
    )
    assert article.headings == ["Recovered Heading"]
    assert article.paragraphs[-1].text == "Text after the heading."
    assert not any("##" in p.text for p in article.paragraphs)


def test_code_blocks_are_not_split():
    article = md("# T\n\nIntro.\n\n<pre>\nline one\n## not a heading\n</pre>\n")
    assert article.headings == []


def test_gfm_tables_render_as_rows():
    article = md("# T\n\nIntro.\n\n| Drug | Dose |\n|---|---|\n| A | 10 mg |\n| B | 5 mg |\n")
    rows = [p for p in article.paragraphs][1:]
    assert [p.text for p in rows] == ["Drug · Dose", "A · 10 mg", "B · 5 mg"]
    assert all(span.bold for span in rows[0].inline if span.text.strip(" ·"))


def test_footnotes_become_sources_and_their_markers_stay():
    article = md(
        "# T\n\nA claim.[^1] Another one.[^note]\n\n"
        "[^1]: Smith J. A study. 2020. https://doi.org/10.1/abc\n"
        "[^note]: [Jones K, 2021](https://journal.example/jones)\n"
    )
    assert article.paragraphs[0].text == "A claim.[1] Another one.[2]"
    assert [(s.text, s.url) for s in article.sources] == [
        ("Smith J. A study. 2020. https://doi.org/10.1/abc", "https://doi.org/10.1/abc"),
        ("Jones K, 2021", "https://journal.example/jones"),
    ]


@pytest.mark.parametrize(
    ("front_matter", "kwargs", "expected"),
    [
        ("canonical_url: https://own.example/blog/post/\n", {"base_url": "https://b.example/x/"},
         "https://b.example/x/img.jpg"),
        ("canonical_url: https://own.example/blog/post/\n", {"site_url": SITE},
         "https://own.example/blog/post/img.jpg"),
        ("url: https://own.example/u/\n", {"site_url": SITE}, "https://own.example/u/img.jpg"),
        ("permalink: /blog/post/\n", {"site_url": SITE}, "https://clinic.example/blog/post/img.jpg"),
        ("url: /notes/post/\n", {"site_url": SITE}, "https://clinic.example/notes/post/img.jpg"),
        ("title: T\n", {"site_url": SITE + "/"}, "https://clinic.example/img.jpg"),
        ("permalink: /blog/:title/\n", {"site_url": SITE}, "https://clinic.example/img.jpg"),
    ],
)  # fmt: skip
def test_relative_urls_resolve_in_the_issues_order(front_matter, kwargs, expected):
    article = md(f"---\n{front_matter}---\n# T\n\nText first.\n\n![Alt](img.jpg)\n", **kwargs)
    assert [b.src for b in blocks(article) if isinstance(b, Image)] == [expected]


def test_protocol_relative_links_and_images_become_https():
    article = md("# T\n\n[Link](//other.example/page) text.\n\n![Alt](//cdn.example/i.png)\n")
    assert article.links() == ["https://other.example/page"]
    assert [b.src for b in blocks(article) if isinstance(b, Image)] == ["https://cdn.example/i.png"]


def test_a_protocol_relative_link_without_a_host_is_dropped_with_a_warning():
    article = md("# T\n\n[Broken](///path) text.\n")
    assert article.links() == []
    assert article.paragraphs[0].text == "Broken text."
    assert "link '///path' dropped: it has no host" in article.warnings


def test_an_http_image_is_kept_with_a_warning():
    article = md("# T\n\nText.\n\n![Alt](http://cdn.example/a.jpg)\n")
    assert [b.src for b in blocks(article) if isinstance(b, Image)] == ["http://cdn.example/a.jpg"]
    assert any(
        w.startswith("image http://cdn.example/a.jpg is not https") for w in article.warnings
    )


@pytest.mark.parametrize(
    ("src", "why"),
    [
        ("img/a.jpg", "its address is relative"),
        ("data:image/png;base64,iVBORw0KGgo=", "data: URLs"),
        ("ftp://files.example/a.jpg", "not a web address"),
    ],
)
def test_an_image_that_cannot_be_absolute_https_is_dropped_with_a_warning_naming_it(src, why):
    article = md(f'# T\n\nText.\n\n<img src="{src}" alt="Alt">\n')
    assert not [b for b in blocks(article) if isinstance(b, Image)]
    warning = next(w for w in article.warnings if w.startswith("image "))
    assert src[:20] in warning and why in warning


def test_a_youtube_shortcode_becomes_a_thumbnail_linked_to_the_video():
    article = md('# T\n\nText.\n\n{{< youtube id="w7Ft2ymGmfc" title="A talk" >}}\n')
    image = next(b for b in blocks(article) if isinstance(b, Image))
    assert image == Image(
        src="https://i.ytimg.com/vi/w7Ft2ymGmfc/hqdefault.jpg",
        alt="Video: A talk",
        href="https://www.youtube.com/watch?v=w7Ft2ymGmfc",
    )


def test_lists_and_emphasis_survive_the_round_trip_through_html():
    article = md("# T\n\nIntro.\n\n- **bold** item\n- *it* item\n\n1. one\n2. two\n")
    lists = [b for b in blocks(article) if isinstance(b, ListBlock)]
    assert [[plain(i) for i in lst.items] for lst in lists] == [
        ["bold item", "it item"],
        ["one", "two"],
    ]
    assert lists[1].ordered and not lists[0].ordered
    assert lists[0].items[0][0].bold and lists[0].items[1][0].italic
    assert isinstance(blocks(article)[0], Paragraph)


def test_the_website_fallback_is_never_the_posts_own_address():
    article = md("---\ntitle: T\n---\nText.\n", site_url=SITE)
    assert article.canonical_url is None
    own = md("---\ntitle: T\npermalink: /blog/post/\n---\nText.\n", site_url=SITE)
    assert own.canonical_url == "https://clinic.example/blog/post/"
