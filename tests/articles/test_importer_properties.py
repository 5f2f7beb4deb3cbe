"""Every importer is total: any bytes, under any name, give an Article or an ArticleError.

An Article must be usable as is (a title, a paragraph, safe URLs, XML-clean strings); an
ArticleError must say how to fix the input. Anything else escaping is a bug.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.articles import parse_article
from newsletter.articles.model import Article, Image
from newsletter.errors import ArticleError
from tests.seed import REPO

NAMES = st.sampled_from(["article.txt", "article.md", "article.html", "article"])
# XML 1.0 forbids these; C1 controls and lone surrogates are never article text either.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
PROPERTY = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_WORDS = st.sampled_from([
    "Anxiety", "therapy", "helps", "Ketamine", "the brain", "sleep.", "Why?", "&", "<", "\t",
    "contact us at the clinic.", "Book a consultation", "https://ok.example/a?b=1&c=2",
    "\x00", "\x0b", "\x1f", "\x85", "\u2028", "\ufeff", "\ufffe", "é", "“quoted”", "🧠",
])  # fmt: skip
_TEXT = st.lists(_WORDS, max_size=12).map(" ".join)

HTML_FRAGMENTS = [
    "<!doctype html>", "<html>", "<head>", "</head>", "<body>", "</body>", "</html>",
    "<title>A Clinic Post | Calm Clinic</title>", "<h1>", "</h1>", "<h2>", "</h2>", "<h5>",
    "<p>", "</p>", "<div class='entry-content'>", "<div class='share-buttons'>", "</div>",
    "<article>", "</article>", "<nav>Home Blog</nav>", "<footer>© Clinic</footer>",
    "<ul>", "<ol>", "<li>", "</li>", "</ul>", "<blockquote>", "</blockquote>", "<br>",
    "<strong>", "</strong>", "<em>", "<i>", "<table><tr><td>a</td><td>b</td></tr></table>",
    "<a href='javascript:alert(1)'>x</a>", "<a href=\"../up/\">rel</a>", "<a href='#top'>",
    "<a href='mailto:'>m</a>", "<a href='mailto:a@b.example'>mail</a>", "</a>",
    "<a href='http://[::1'>bad</a>", "<a href='https://ok.example/x'>", "<a href=' h t t p : '>",
    "<img src='data:image/png;base64,AAAA' alt='d'>", "<img src='/x.jpg' alt='rel'>",
    "<img src='https://www.facebook.com/tr?id=1' width=1 height=1>", "<img>",
    "<img src='https://cdn.example/p.jpg' alt='A \x01 photo'>", "<img src='//cdn.example/a.png'>",
    "<iframe src='https://www.googletagmanager.com/ns.html'></iframe>", "<script>var a=1<2;",
    "</script>", "<style>p{}</style>", "<form><input></form>", "<svg><text>s</text></svg>",
    "<meta property='og:image' content='javascript:x'>", "<meta name='description' content='",
    "<meta property='og:title' content='OG &amp; title'>", "<link rel=canonical href='/rel'>",
    "<link rel='canonical' href='https://clinic.example/blog/post/'>", "<base href='https://x/'>",
    "&amp;", "&lt;", "&#0;", "&#x1;", "&#xD800;", "&#65535;", "&nbsp;", "&bogus;", "&",
    "<!--", "-->", "<![CDATA[", "]]>", "<?xml version='1.0' encoding='utf-8'?>", "<", ">", "\"",
    "<p>Sources:</p>", "<h3>References</h3>", "<p>If you need help, contact us today.</p>",
    "<img data-src='/lazy.jpg' src='data:image/gif;base64,R0l'>", "<noscript><img src='/n.jpg'>",
    "</noscript>", "<picture><source srcset='/a.webp 1x, /b.webp 2x' type='image/webp'>",
    "<img srcset='/s.jpg 480w, /l.jpg 1200w'>", "</picture>", "<sup>1</sup>",
    "<iframe src='https://www.youtube.com/embed/abcdefghijk' title='T'></iframe>",
    "<div class='footnotes'><ol><li>Note <a href='#r1'>↩</a></li></ol></div>",
    "<meta charset='windows-1252'>", "<meta property='og:title' content='Headline | Site'>",
    "<script type='application/ld+json'>{\"@type\":\"NewsArticle\",\"headline\":\"H\"}",
    "<nav class='breadcrumb'><h1>Crumb</h1></nav>", "<aside><h1>Hi, I'm X.</h1></aside>",
    "<div>" * 40, "</div>" * 40, "<p>" * 30, "<li><ul><li>", "\x00", "\x0c", "\r\n", "\u2028",
]  # fmt: skip
MARKDOWN_FRAGMENTS = [
    "---\n", "title: A Title\n", "title: [1, 2]\n", "title: !!binary AAAA\n", "title:\n",
    "date: 2024-13-45\n", "date: 2024-01-02\n", "tags: {a: b}\n", "tags: [x, 1, null]\n",
    "image: javascript:alert(1)\n", "image: data:image/png;base64,AA\n", "cta: 5\n",
    "cta: {text: Call us, url: 'javascript:x'}\n", "sources: [a, {text: b, url: 'ftp://x'}]\n",
    "sources: 7\n", "summary: &anchor x\n", "key: *alias\n", ": :\n", "...\n", "\t- x\n",
    "# ", "## ", "### ", "#", "Heading\n", "===\n", "\n\n", "\n", "- ", "* ", "1. ", "> ",
    "**", "*", "_", "`", "```\ncode\n```\n", "    indented code\n", "[link](javascript:x)",
    "[rel](../rel)", "[ok](https://ok.example)", "![img](data:image/png;base64,AA)",
    "![alt](https://cdn.example/a.jpg)", "<https://auto.example>", "[ref]: https://r.example\n",
    "<div>raw html</div>", "<script>x</script>", "&amp;", "&#0;", "\\", "|a|b|\n|-|-|\n",
    "Sources:\n", "References: a; b\n", "If you are interested, contact us at the clinic.\n",
    "\x00", "\x0b", "\x7f", "\u2028", "\r", "[", "](", ")", "<", ">",
    "+++\n", 'title = "T"\n', "[params]\n", "date = 2024-05-02T09:00:00+02:00\n", "= \n",
    '{"title": "J", ', '"tags": [1, {}], ', "}\n", "featuredImage: {src: //cdn.x/a.jpg}\n",
    "title: A: B\n", "draft: true\n", "x: !!python/object/apply:os.system [x]\n",
    "{{< youtube id=\"abcdefghijk\" >}}", "{% include youtube.html id=\"x\" %}", "{: .lead }\n",
    "[^1]", "[^1]: note\n", "<div align=center>\n<img src=a.png>\n</div>\n## H\n",
    "| a |\n|---|\n", "<figure><img src='//x/a.jpg'><figcaption>c</figcaption></figure>",
    "1.  Home\n", "Home > Blog > Title\n", "By Dr. A B • March 3, 2024 • 8 min read\n",
    "Share Share Pin Share Email\n", "Back to Blog\n", "References\n", "[1] Ref\n",
    "We use cookies to improve our site.\n", "Related Posts\n", "© 2024 Clinic\n",
]  # fmt: skip


def fragments(pieces: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces) | _TEXT, max_size=40).map("".join)


def check(data: bytes, name: str) -> None:
    try:
        article = parse_article(data, name=name, where=name)
    except ArticleError as error:
        message = str(error)
        assert message.strip()
        assert "Fix:" in message, message
        return
    assert isinstance(article, Article)
    assert article.title.strip()
    assert any(p.text.strip() for p in article.paragraphs)
    for url in urls(article):
        scheme = urlsplit(url).scheme.lower()
        assert scheme in ("http", "https", "mailto", ""), url
        assert not FORBIDDEN.search(url) and not any(c.isspace() for c in url), repr(url)
    for text in strings(article):
        assert not FORBIDDEN.search(text), repr(text)


def urls(article: Article) -> list[str]:
    images = [b.src for s in article.sections for b in s.blocks if isinstance(b, Image)]
    found = [article.hero_image, article.canonical_url, *images, *article.links()]
    return [url for url in found if url is not None]


def strings(value: object) -> list[str]:
    """Every string inside an Article (fields, tuples, nested dataclasses)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [s for item in value for s in strings(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in strings(getattr(value, f.name))]
    assert value is None or isinstance(value, bool | int | dt.date), type(value)
    return []


@PROPERTY
@given(data=st.binary(max_size=3000), name=NAMES)
def test_any_bytes(data: bytes, name: str) -> None:
    check(data, name)


@PROPERTY
@given(text=st.text(max_size=2000), name=NAMES, bom=st.sampled_from(["", "\ufeff"]))
def test_any_text(text: str, name: str, bom: str) -> None:
    check((bom + text).encode("utf-8", "surrogatepass"), name)
    check(text.encode("utf-16"), name)


@PROPERTY
@given(text=fragments(HTML_FRAGMENTS), name=NAMES)
def test_html_like_text(text: str, name: str) -> None:
    check(text.encode("utf-8", "surrogatepass"), name)


@PROPERTY
@given(text=fragments(MARKDOWN_FRAGMENTS), name=NAMES)
def test_markdown_like_text(text: str, name: str) -> None:
    check(text.encode("utf-8", "surrogatepass"), name)


@PROPERTY
@given(
    title=_TEXT,
    body=st.lists(fragments(HTML_FRAGMENTS + MARKDOWN_FRAGMENTS), min_size=1, max_size=6),
    name=NAMES,
)
def test_plausible_articles(title: str, body: list[str], name: str) -> None:
    """A title line and paragraphs, each salted with markup: more inputs get past the checks."""
    text = f"{title}\n\n" + "\n\n".join(f"Therapy can help many people. {b}" for b in body)
    check(text.encode("utf-8", "surrogatepass"), name)


_PAGES = sorted((REPO / "tests" / "data" / "html").glob("*.html")) + sorted(
    (REPO / "tests" / "articles" / "corpus" / "html").glob("*.html")
)


@settings(PROPERTY, max_examples=40)
@given(
    page=st.sampled_from(_PAGES),
    cut=st.floats(0, 1),
    splice=fragments(HTML_FRAGMENTS),
    at=st.floats(0, 1),
)
def test_damaged_real_pages(page: Path, cut: float, splice: str, at: float) -> None:
    """Real page markup cut short and with junk spliced in, as a failed save leaves it."""
    text = page.read_bytes().decode("utf-8", errors="replace")
    text = text[: max(1, int(len(text) * cut))]
    position = int(len(text) * at)
    check((text[:position] + splice + text[position:]).encode("utf-8", "surrogatepass"), "p.html")
