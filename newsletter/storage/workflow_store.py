"""Queries over the campaign workflow: author, approval state, review history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from newsletter.storage.library_tables import campaign_reviews, campaign_workflow


def insert_workflow(conn: Connection, campaign_id: int, author_id: int | None) -> None:
    conn.execute(
        insert(campaign_workflow).values(
            campaign_id=campaign_id, author_id=author_id, approval="none"
        )
    )


def get_workflow(conn: Connection, campaign_id: int, *, for_update: bool = False) -> Row | None:
    query = select(campaign_workflow).where(campaign_workflow.c.campaign_id == campaign_id)
    return conn.execute(query.with_for_update() if for_update else query).first()


def ensure_workflow(conn: Connection, campaign_id: int) -> Row:
    """The workflow row, made (no author) for a campaign created before accounts."""
    row = get_workflow(conn, campaign_id, for_update=True)
    if row is None:
        insert_workflow(conn, campaign_id, None)
        row = get_workflow(conn, campaign_id, for_update=True)
    assert row is not None
    return row


def set_approval(conn: Connection, campaign_id: int, approval: str, **values: Any) -> None:
    conn.execute(
        update(campaign_workflow)
        .where(campaign_workflow.c.campaign_id == campaign_id)
        .values(approval=approval, **values)
    )


def add_review(
    conn: Connection,
    campaign_id: int,
    action: str,
    user_id: int | None,
    comment: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(campaign_reviews).values(
            campaign_id=campaign_id,
            action=action,
            user_id=user_id,
            comment=comment,
            occurred_at=now,
        )
    )


def reviews(conn: Connection, campaign_id: int) -> list[Row]:
    query = (
        select(campaign_reviews)
        .where(campaign_reviews.c.campaign_id == campaign_id)
        .order_by(campaign_reviews.c.id)
    )
    return list(conn.execute(query))
