"""Article import: plain text, Markdown with front matter, or an HTML blog page → Article.

`load_article` is total: it returns an Article or raises ArticleError saying what is wrong
and how to fix it, whatever bytes it is given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from newsletter.articles.detect import decode, detect_format, format_hint
from newsletter.articles.model import Article
from newsletter.errors import ArticleError

MAX_ARTICLE_BYTES = 5 * 1024 * 1024


def load_article(
    path: str | Path, *, base_url: str | None = None, site_url: str | None = None
) -> Article:
    """`site_url` (NEWSLETTER_WEBSITE_URL) resolves relative addresses when neither
    `base_url` nor the article itself says where it lives."""
    path = Path(path)
    where = str(path)
    try:
        if path.is_dir():
            raise ArticleError(
                "is a folder, not an article file",
                where=where,
                fix="give the path of a .txt, .md or .html file",
            )
        size = path.stat().st_size
        if size > MAX_ARTICLE_BYTES:
            raise ArticleError(
                f"the file is {size:,} bytes; articles are limited to {MAX_ARTICLE_BYTES:,}",
                where=where,
                fix="import the article's text only, without embedded images",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArticleError("no such file", where=where, fix="check the path") from None
    except OSError as exc:
        raise ArticleError(
            f"cannot read the file ({exc.strerror})",
            where=where,
            fix="check the path and its permissions",
        ) from None
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


__all__ = ["Article", "ArticleError", "load_article", "parse_article"]
