"""Tables of the article library and of the campaign workflow (author, approval, reviews).

`articles` keeps each article's original bytes (re-imported on demand, so an improved
importer improves old articles) and what the importer said about it. `campaign_workflow` is
one row per campaign made through the admin or the CLI since accounts exist: who wrote it and
where its approval stands; `campaign_reviews` is the history (submit, approve, reject,
edits that withdrew an approval). Neither changes the sending ledger's tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, Text

from newsletter.storage.tables import UTCDateTime, _fk, metadata

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("format", String(16), nullable=False),  # text | markdown | html
    Column("source_kind", String(8), nullable=False),  # upload | paste | url
    Column("source", Text, nullable=False),  # file name, "pasted text", or the URL
    Column("base_url", Text),  # where relative links resolve (the final URL of a fetch)
    Column("raw", LargeBinary, nullable=False),
    Column("warnings_json", Text, nullable=False),
    Column("status", String(16), nullable=False),  # active | archived
    Column("created_by", Integer),  # users.id (people are never deleted)
    Column("created_at", UTCDateTime, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Index("ix_articles_status_id", "status", "id"),
)

campaign_articles = Table(
    "campaign_articles",
    metadata,
    Column("campaign_id", Integer, _fk("campaigns.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("article_id", Integer, _fk("articles.id", "RESTRICT"), nullable=False),
    Index("ix_campaign_articles_article_id", "article_id"),
)

campaign_workflow = Table(
    "campaign_workflow",
    metadata,
    Column("campaign_id", Integer, _fk("campaigns.id"), primary_key=True),
    Column("author_id", Integer),  # users.id; NULL when made without an account
    Column("approval", String(16), nullable=False),  # none | submitted | approved | rejected
    Column("decided_by", Integer),  # users.id of the approver or rejecter
    Column("decided_at", UTCDateTime),
    Column("comment", Text),
)

campaign_reviews = Table(
    "campaign_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, _fk("campaigns.id"), nullable=False),
    Column("action", String(16), nullable=False),  # submit | approve | reject | edit | withdraw
    Column("user_id", Integer),
    Column("comment", Text),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_campaign_reviews_campaign_id", "campaign_id", "id"),
)
