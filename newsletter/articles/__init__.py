"""Article import: plain text, Markdown with front matter, or an HTML blog page → Article.

`load_article` is total: it returns an Article or raises ArticleError saying what is wrong
and how to fix it, whatever bytes it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from newsletter.articles.detect import _EXTENSIONS, decode, detect_format, format_hint
from newsletter.articles.model import Article
from newsletter.errors import ArticleError

MAX_ARTICLE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ArticleLimits:
    """Largest file accepted per format (NEWSLETTER_MAX_{TEXT,MARKDOWN,HTML}_BYTES): checked
    before a byte is read, so an oversized file is never parsed."""

    text: int = 2 * 1024 * 1024
    markdown: int = 2 * 1024 * 1024
    html: int = 10 * 1024 * 1024

    def of(self, kind: str) -> int:
        known = {"text": self.text, "markdown": self.markdown, "html": self.html}
        return known.get(kind, max(known.values()))


_SETTING = {"text": "NEWSLETTER_MAX_TEXT_BYTES", "markdown": "NEWSLETTER_MAX_MARKDOWN_BYTES",
            "html": "NEWSLETTER_MAX_HTML_BYTES"}  # fmt: skip


def load_article(
    path: str | Path,
    *,
    base_url: str | None = None,
    site_url: str | None = None,
    limits: ArticleLimits | None = None,
) -> Article:
    """Read and parse an article file; `site_url` (NEWSLETTER_WEBSITE_URL) resolves relative
    addresses when neither `base_url` nor the article itself says where it lives. Only a
    regular file is read (a device or a FIFO would be read forever), and only within its
    format's size limit: by extension before reading, by the detected format after it (an
    unknown extension reads up to the largest limit)."""
    from newsletter.input_files import check_input_file, size_text

    path = Path(path)
    where = str(path)
    limits = limits or ArticleLimits()
    by_name = _EXTENSIONS.get(path.suffix.lower())
    cap = limits.of(by_name) if by_name else max(limits.text, limits.markdown, limits.html)
    size = check_input_file(path, max_bytes=cap, setting=_SETTING.get(by_name or "html"),
                            kind=f"{by_name or 'article'} file", error=ArticleError)  # fmt: skip
    try:
        with path.open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise ArticleError(
            f"cannot read the file ({exc.strerror})",
            where=where,
            fix="check the path and its permissions",
        ) from None
    if by_name is None:
        kind = detect_format(path.name, decode(data, where=where).text)
        if max(size, len(data)) > limits.of(kind):
            raise ArticleError(
                f"the file is {size_text(max(size, len(data)))}; the limit for a {kind} "
                f"article is {size_text(limits.of(kind))}",
                where=where,
                fix=f"raise {_SETTING.get(kind, _SETTING['html'])} if this file is right",
            )
    name = path.name
    if path.stem.lower() in ("index", "_index", "readme") and path.parent.name:
        name = f"{path.parent.name}/{path.name}"  # a Hugo page bundle: the folder is the slug
    return parse_article(data, name=name, where=where, base_url=base_url, site_url=site_url)


def parse_article(
    data: bytes,
    *,
    name: str = "",
    where: str = "article",
    base_url: str | None = None,
    site_url: str | None = None,
) -> Article:
    """Parse article bytes; `name` (a file name) hints the format by its extension."""
    decoded = decode(data, where=where, html=(format_hint(name) == "html") or None)
    text = decoded.text
    kind = detect_format(name, text)
    try:
        if kind == "markdown":
            from newsletter.articles.markdown import parse_markdown

            article = parse_markdown(
                text, where=where, base_url=base_url, site_url=site_url, name=name
            )
        elif kind == "html":
            from newsletter.articles.html import parse_html

            article = parse_html(text, where=where, base_url=base_url, site_url=site_url, name=name)
        else:
            from newsletter.articles.plaintext import parse_text

            article = parse_text(text, where=where)
    except ArticleError:
        raise
    except RecursionError:
        raise ArticleError(
            "the document is nested too deeply to read", where=where, fix="simplify the markup"
        ) from None
    if decoded.warnings:
        article = replace(article, warnings=(*decoded.warnings, *article.warnings))
    return article


__all__ = ["Article", "ArticleError", "ArticleLimits", "load_article", "parse_article"]
