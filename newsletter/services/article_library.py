"""The article library: articles added by upload, pasted text or a URL, kept with their
source, original bytes and the importer's warnings; listed, viewed, re-imported, archived.

The library stores the original and parses it with the importer's public entry point
(`newsletter.articles.parse_article`) whenever the Article is needed, so what a campaign is
made from is exactly what the page showed, and re-importing picks up importer improvements.
A URL is fetched through `newsletter.fetcher` (the only code that reaches other sites).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from newsletter import fetcher
from newsletter.articles import MAX_ARTICLE_BYTES, Article, load_article, parse_article
from newsletter.config import Settings
from newsletter.errors import ArticleError, ValidationError
from newsletter.storage import article_store, audit_log
from newsletter.storage.database import Database

UPLOAD_EXTENSIONS = (".txt", ".text", ".md", ".markdown", ".html", ".htm")
_PASTE_NAMES = {"markdown": "pasted.md", "text": "pasted.txt", "html": "pasted.html", "auto": ""}
Fetch = Callable[..., fetcher.Fetched]


@dataclass(frozen=True)
class Source:
    kind: Literal["upload", "paste", "url"]
    name: str  # the file name, "pasted text", or the URL asked for
    hint: str  # a file name whose extension tells the importer the format ("" = sniff)
    base_url: str | None = None


def _parse(data: bytes, source: Source, site_url: str | None) -> Article:
    """`site_url` (NEWSLETTER_WEBSITE_URL) resolves relative links and images when the article
    names no address of its own (an upload or a paste); without it they are dropped."""
    return parse_article(
        data,
        name=source.hint,
        where=source.name[:200],
        base_url=source.base_url,
        site_url=site_url,
    )


def _store(
    db: Database,
    data: bytes,
    source: Source,
    *,
    site_url: str | None,
    actor: str,
    user_id: int | None,
    now: datetime,
) -> int:
    article = _parse(data, source, site_url)
    with db.write() as conn:
        article_id = article_store.insert_article(
            conn,
            {
                **_parsed_columns(article),
                "source_kind": source.kind,
                "source": source.name,
                "base_url": source.base_url,
                "raw": data,
                "status": "active",
                "created_by": user_id,
                "created_at": now,
                "imported_at": now,
            },
        )
        audit_log.record(
            conn,
            actor=actor,
            action="article-added",
            target=f"article:{article_id}",
            now=now,
            detail={"source": source.kind},
        )
    return article_id


def _parsed_columns(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "summary": article.preheader,
        "format": article.format,
        "warnings_json": json.dumps(list(article.warnings)),
    }


def _check_size(data: bytes, where: str) -> None:
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(
            f"the article is {len(data):,} bytes; at most {MAX_ARTICLE_BYTES:,} are accepted",
            where=where,
            fix="import the article's text only, without embedded images",
        )


def add_upload(
    db: Database,
    data: bytes,
    filename: str,
    *,
    site_url: str | None,
    actor: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """An uploaded .txt, .md or .html file."""
    name = Path(filename or "upload").name[:200]
    if not name.lower().endswith(UPLOAD_EXTENSIONS):
        raise ArticleError(
            f"{name!r} is not a .txt, .md or .html file",
            where="file",
            fix="save the article as text, Markdown or HTML and upload that",
        )
    _check_size(data, name)
    source = Source("upload", name, name)
    return _store(
        db,
        data,
        source,
        site_url=site_url,
        actor=actor,
        user_id=user_id,
        now=now or datetime.now(UTC),
    )


def add_file(
    db: Database, path: Path, *, site_url: str | None, actor: str, now: datetime | None = None
) -> int:
    """A file on this computer (the CLI): read by the importer's own loader."""
    load_article(path)  # the loader's checks and messages (missing file, folder, size)
    data = path.read_bytes()
    source = Source("upload", path.name, path.name)
    return _store(
        db, data, source, site_url=site_url, actor=actor, user_id=None, now=now or datetime.now(UTC)
    )


def add_paste(
    db: Database,
    text: str,
    *,
    kind: str = "auto",  # auto, markdown, text or html; checked here (forms and options)
    site_url: str | None,
    actor: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Pasted text, Markdown or HTML (`auto` sniffs)."""
    if kind not in _PASTE_NAMES:
        raise ValidationError(
            f"{kind!r} is not a format", where="format", fix="choose auto, markdown, text or html"
        )
    data = text.encode("utf-8", "surrogatepass")
    _check_size(data, "pasted text")
    source = Source("paste", "pasted text", _PASTE_NAMES[kind])
    return _store(
        db,
        data,
        source,
        site_url=site_url,
        actor=actor,
        user_id=user_id,
        now=now or datetime.now(UTC),
    )


def _fetch(settings: Settings, url: str, fetch: Fetch) -> tuple[bytes, Source]:
    page = fetch(url, allow_private=settings.fetch_allow_private)
    return page.data, Source("url", url.strip()[:2000], f"page.{page.extension}", page.url)


def add_url(
    db: Database,
    settings: Settings,
    url: str,
    *,
    actor: str,
    user_id: int | None = None,
    now: datetime | None = None,
    fetch: Fetch = fetcher.fetch,
) -> int:
    """The post at `url`, fetched by the server."""
    data, source = _fetch(settings, url, fetch)
    return _store(
        db,
        data,
        source,
        site_url=settings.website_url,
        actor=actor,
        user_id=user_id,
        now=now or datetime.now(UTC),
    )


def list_articles(db: Database, *, archived: bool = False) -> list[Any]:
    with db.read() as conn:
        return article_store.list_articles(conn, archived=archived)


def get_article(db: Database, article_id: int) -> Any:
    with db.read() as conn:
        return article_store.get_article(conn, article_id, with_raw=True)


def source_of(row: Any) -> Source:
    hint = row.source if row.source_kind == "upload" else ""
    if row.source_kind == "paste":
        hint = {"markdown": "pasted.md", "html": "pasted.html"}.get(row.format, "pasted.txt")
    elif row.source_kind == "url":
        hint = {"markdown": "page.md", "html": "page.html"}.get(row.format, "page.txt")
    return Source(row.source_kind, row.source, hint, row.base_url)


def parsed(row: Any, *, site_url: str | None) -> Article:
    """The Article of a stored row (`get_article`), parsed from its original now."""
    return _parse(row.raw, source_of(row), site_url)


def warnings_of(row: Any) -> list[str]:
    return list(json.loads(row.warnings_json))


def reimport(
    db: Database,
    settings: Settings,
    article_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    fetch: Fetch = fetcher.fetch,
) -> None:
    """Parse again (a URL is fetched again); title, summary and warnings are refreshed."""
    now = now or datetime.now(UTC)
    row = get_article(db, article_id)
    data, source = (
        _fetch(settings, row.source, fetch)
        if row.source_kind == "url"
        else (row.raw, source_of(row))
    )
    article = _parse(data, source, settings.website_url)
    with db.write() as conn:
        article_store.update_article(
            conn,
            article_id,
            raw=data,
            base_url=source.base_url,
            imported_at=now,
            **_parsed_columns(article),
        )
        audit_log.record(
            conn, actor=actor, action="article-reimported", target=f"article:{article_id}", now=now
        )


def set_archived(
    db: Database, article_id: int, archived: bool, *, actor: str, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    with db.write() as conn:
        article_store.get_article(conn, article_id)
        article_store.update_article(conn, article_id, status="archived" if archived else "active")
        audit_log.record(
            conn,
            actor=actor,
            action="article-archived" if archived else "article-restored",
            target=f"article:{article_id}",
            now=now,
        )


def articles_for_campaign(
    db: Database, article_ids: Sequence[int], *, site_url: str | None
) -> list[Article]:
    """The Articles a campaign is made from, in order (archived ones are refused)."""
    if not article_ids:
        raise ValidationError(
            "no article chosen", where="article", fix="choose an article from the library"
        )
    found = []
    with db.read() as conn:
        for article_id in article_ids:
            row = article_store.get_article(conn, article_id, with_raw=True)
            if row.status != "active":
                raise ValidationError(
                    f"article {article_id} is archived",
                    where="article",
                    fix="restore it first, or choose another",
                )
            found.append(parsed(row, site_url=site_url))
    return found
