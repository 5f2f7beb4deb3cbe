"""Queries over the article library and the campaign ↔ article links. Callers own the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from newsletter.errors import NotFound
from newsletter.storage.library_tables import articles, campaign_articles

# Everything but the original bytes: what lists and pages show.
LISTED = [c for c in articles.c if c.name != "raw"]


def insert_article(conn: Connection, values: dict[str, Any]) -> int:
    inserted = conn.execute(insert(articles).values(**values)).inserted_primary_key
    assert inserted is not None  # a single-row INSERT always has one
    return int(inserted[0])


def update_article(conn: Connection, article_id: int, **values: Any) -> None:
    conn.execute(update(articles).where(articles.c.id == article_id).values(**values))


def get_article(conn: Connection, article_id: int, *, with_raw: bool = False) -> Row:
    columns = list(articles.c) if with_raw else LISTED
    row = conn.execute(select(*columns).where(articles.c.id == article_id)).first()
    if row is None:
        raise NotFound(f"no article {article_id}", fix="`newsletter articles list` shows them")
    return row


def list_articles(conn: Connection, *, archived: bool = False, limit: int = 500) -> list[Row]:
    status = "archived" if archived else "active"
    query = (
        select(*LISTED)
        .where(articles.c.status == status)
        .order_by(articles.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))


def titles(conn: Connection, article_ids: list[int]) -> list[tuple[int, str]]:
    """(id, title) of these articles, in the order given."""
    if not article_ids:
        return []
    rows = conn.execute(
        select(articles.c.id, articles.c.title).where(articles.c.id.in_(article_ids))
    )
    found = {row.id: row.title for row in rows}
    return [(i, found[i]) for i in article_ids if i in found]


def link_campaign(conn: Connection, campaign_id: int, article_ids: list[int]) -> None:
    conn.execute(
        insert(campaign_articles),
        [
            {"campaign_id": campaign_id, "position": i, "article_id": a}
            for i, a in enumerate(article_ids)
        ],
    )


def campaign_article_ids(conn: Connection, campaign_id: int) -> list[int]:
    query = (
        select(campaign_articles.c.article_id)
        .where(campaign_articles.c.campaign_id == campaign_id)
        .order_by(campaign_articles.c.position)
    )
    return list(conn.scalars(query))
