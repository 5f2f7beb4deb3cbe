"""Lists: named audiences people subscribe to, single or double opt-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from newsletter.errors import ValidationError
from newsletter.storage.database import Database
from newsletter.storage.tables import lists, subscriptions

MAX_LIST_NAME = 100


@dataclass(frozen=True)
class ListInfo:
    id: int
    name: str
    double_opt_in: bool
    created_at: datetime
    active: int = 0
    pending: int = 0


def create_list(
    db: Database, name: str, *, double_opt_in: bool = False, now: datetime | None = None
) -> ListInfo:
    name = name.strip()
    if not name or len(name) > MAX_LIST_NAME or any(c in name for c in "\r\n\t"):
        raise ValidationError(
            f"list name {name!r} is empty, too long or has line breaks",
            fix=f"use a single line of at most {MAX_LIST_NAME} characters",
        )
    now = now or datetime.now(UTC)
    try:
        with db.write() as conn:
            list_id: int = conn.execute(
                lists.insert()
                .values(name=name, double_opt_in=double_opt_in, created_at=now)
                .returning(lists.c.id)
            ).scalar_one()
    except IntegrityError:
        raise ValidationError(
            f"a list named {name!r} already exists", fix="choose another name"
        ) from None
    return ListInfo(list_id, name, double_opt_in, now)


def list_lists(db: Database) -> list[ListInfo]:
    """All lists with their active and pending member counts."""
    counts = (
        select(
            subscriptions.c.list_id,
            func.count().filter(subscriptions.c.status == "active").label("active"),
            func.count().filter(subscriptions.c.status == "pending").label("pending"),
        )
        .group_by(subscriptions.c.list_id)
        .subquery()
    )
    query = (
        select(lists, counts.c.active, counts.c.pending)
        .outerjoin(counts, counts.c.list_id == lists.c.id)
        .order_by(lists.c.name)
    )
    with db.read() as conn:
        return [
            ListInfo(r.id, r.name, r.double_opt_in, r.created_at, r.active or 0, r.pending or 0)
            for r in conn.execute(query)
        ]
