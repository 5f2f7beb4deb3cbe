"""Campaign counters (`campaign_counters`): added to as things happen, read whole by stats.

Increments are upserts, grouped per transaction by the caller (a webhook batch, a batch of
clicks) and written in key order, so concurrent writers on PostgreSQL never deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.storage.database import tuples
from newsletter.storage.engagement_tables import campaign_counters

Key = tuple[int, str, str]  # (campaign id, scope, name)


def add_counts(conn: Connection, deltas: Mapping[Key, int]) -> None:
    rows = [
        {"campaign_id": c, "scope": s, "name": n, "value": v}
        for (c, s, n), v in sorted(deltas.items())
        if v
    ]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(campaign_counters)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "scope", "name"],
            set_={"value": campaign_counters.c.value + statement.excluded.value},
        ),
        rows,
    )


def counts_of(conn: Connection, campaign_id: int) -> dict[tuple[str, str], int]:
    """Every counter of one campaign: {(scope, name): value}."""
    rows = conn.execute(
        select(
            campaign_counters.c.scope, campaign_counters.c.name, campaign_counters.c.value
        ).where(campaign_counters.c.campaign_id == campaign_id)
    )
    return {(scope, name): int(value) for scope, name, value in tuples(rows)}


def count_of(conn: Connection, campaign_id: int, name: str, scope: str = "") -> int:
    value = conn.scalar(
        select(campaign_counters.c.value).where(
            campaign_counters.c.campaign_id == campaign_id,
            campaign_counters.c.scope == scope,
            campaign_counters.c.name == name,
        )
    )
    return int(value or 0)


def counts_of_names(conn: Connection, campaign_id: int, names: list[str]) -> dict[str, int]:
    """Some campaign-wide counters (scope '') of one campaign: {name: value}."""
    rows = conn.execute(
        select(campaign_counters.c.name, campaign_counters.c.value).where(
            campaign_counters.c.campaign_id == campaign_id,
            campaign_counters.c.scope == "",
            campaign_counters.c.name.in_(names),
        )
    )
    return {name: int(value) for name, value in tuples(rows)}


def totals_of(
    conn: Connection, campaign_ids: list[int], names: list[str]
) -> dict[int, dict[str, int]]:
    """Campaign-wide counters of several campaigns at once (the dashboard): one read on the
    (campaign_id, scope, name) key."""
    if not campaign_ids:
        return {}
    rows = conn.execute(
        select(
            campaign_counters.c.campaign_id, campaign_counters.c.name, campaign_counters.c.value
        ).where(
            campaign_counters.c.campaign_id.in_(campaign_ids),
            campaign_counters.c.scope == "",
            campaign_counters.c.name.in_(names),
        )
    )
    found: dict[int, dict[str, int]] = {}
    for campaign_id, name, value in tuples(rows):
        found.setdefault(campaign_id, {})[name] = int(value)
    return found
