"""Lazy images get their real source, videos become linked thumbnails, and saved pages in
legacy encodings are decoded as a browser would (issue #12, build item 3)."""

from __future__ import annotations

import pytest
from lxml import html

from newsletter.articles import parse_article
from newsletter.articles.detect import decode
from newsletter.articles.media import best_from_srcset, prepare_media
from newsletter.articles.model import Image

TEXT = "<p>First paragraph of the article, with enough words to be kept as text.</p>"


def images_of(body: str) -> list[Image]:
    page = "<html><head><title>Lazy Images</title></head><body><article><h1>Lazy Images</h1>"
    page += f"{TEXT}{body}{TEXT}</article></body></html>"
    article = parse_article(page.encode(), name="p.html", base_url="https://clinic.example/b/")
    found = [b for s in article.sections for b in s.blocks if isinstance(b, Image)]
    return ([Image(article.hero_image, article.hero_alt)] if article.hero_image else []) + found


def rewritten(fragment: str) -> tuple[str, dict]:
    root = html.fragment_fromstring(fragment, create_parent="div")
    media = prepare_media(root)
    return html.tostring(root, encoding="unicode"), media.links


@pytest.mark.parametrize(
    ("img", "expected"),
    [
        ('<img src="data:image/gif;base64,R0lGOD" data-src="/real.jpg" alt="A">', "/real.jpg"),
        ('<img src="/spacer.gif" data-lazy-src="/real.jpg" alt="A">', "/real.jpg"),
        ('<img data-srcset="/s.jpg 400w, /m.jpg 1200w, /l.jpg 2400w" alt="A">', "/m.jpg"),
        ('<img srcset="/s.jpg 1x, /l.jpg 2x" alt="A">', "/l.jpg"),
        ('<img src="/placeholder.png" data-original="/real.jpg" alt="A">', "/real.jpg"),
    ],
)
def test_lazy_images_get_their_real_source(img, expected):
    assert f'src="{expected}"' in rewritten(img)[0]


def test_a_picture_prefers_a_source_every_email_client_shows():
    out, _ = rewritten(
        '<picture><source type="image/webp" srcset="/a.webp 1x, /a@2x.webp 2x">'
        '<source type="image/jpeg" srcset="/a.jpg 1x, /a@2x.jpg 2x">'
        '<img src="data:image/gif;base64,R0l" alt="A"></picture>'
    )
    assert 'src="/a@2x.jpg"' in out and "<picture" not in out and "webp" not in out


def test_a_noscript_fallback_replaces_its_placeholder():
    out, _ = rewritten(
        '<img class="lazy" src="/1x1.trans.gif" alt="A"><noscript><img src="/real.jpg" '
        'alt="A"></noscript>'
    )
    assert out.count("<img") == 1 and 'src="/real.jpg"' in out and "noscript" not in out


def test_srcset_choice_is_the_nearest_above_1200_pixels():
    assert best_from_srcset("/a.jpg 300w, /b.jpg 1300w, /c.jpg 3000w") == "/b.jpg"
    assert best_from_srcset("/a.jpg 300w, /b.jpg 800w") == "/b.jpg"
    assert best_from_srcset("") is None


@pytest.mark.parametrize(
    "embed",
    [
        '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ?rel=0" title="A talk"></iframe>',
        '<iframe src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ" title="A talk"></iframe>',
        '<lite-youtube videoid="dQw4w9WgXcQ" title="A talk"></lite-youtube>',
    ],
)
def test_an_embedded_video_becomes_its_thumbnail_linked_to_the_video(embed):
    assert Image(
        "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "Video: A talk",
        href="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ) in images_of(f"<p>{embed}</p>")


def test_a_video_element_becomes_its_poster_linked_to_the_file():
    _, links = rewritten('<video poster="/p.jpg" src="https://cdn.example/v.mp4"></video>')
    assert links == {"/p.jpg": "https://cdn.example/v.mp4"}


def test_lazy_images_survive_the_whole_import():
    found = images_of(
        '<p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/img/real.jpg" '
        'alt="Real" width="600" height="400"></p>'
    )
    assert [(i.src, i.alt) for i in found] == [("https://clinic.example/img/real.jpg", "Real")]


@pytest.mark.parametrize(
    ("data", "expected", "warned"),
    [
        (b"\xef\xbb\xbfCaf\xc3\xa9", "Café", False),
        ("Café".encode("utf-16"), "Café", False),
        ("Café".encode("utf-32"), "Café", False),
        (b'<meta charset="windows-1252"><p>\x93Caf\xe9\x94</p>', "“Café”", False),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
         b"<p>it\x92s</p>", "it’s", False),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><html><p>\xe9</p></html>', "é", False),
        # a page re-saved as UTF-8 keeps its old declaration: the bytes win
        (b'<meta charset="iso-8859-1"><p>Caf\xc3\xa9</p>', "Café", False),
        # no declaration, not UTF-8: read as Windows-1252, with a warning
        (b"<p>Caf\xe9 \x96 na\xefve</p>", "Café – naïve", True),
    ],
)  # fmt: skip
def test_text_is_decoded_from_its_bom_then_its_declared_charset(data, expected, warned):
    decoded = decode(data, where="page.html", html=True)
    assert expected in decoded.text
    assert bool(decoded.warnings) == warned


def test_a_legacy_page_imports_with_its_accents():
    page = (
        '<html><head><meta charset="windows-1252"><title>Caf\xe9 Talk</title></head><body>'
        "<article><h1>Caf\xe9 Talk</h1><p>Telling your manager \x93I\x92m not okay\x94 is "
        "one of the hardest conversations at work, and that is fine.</p></article></body></html>"
    ).encode("latin-1")
    article = parse_article(page, name="page.html")
    assert article.title == "Café Talk"
    assert article.paragraphs[0].text.startswith("Telling your manager “I’m not okay”")
    assert article.warnings == ()
