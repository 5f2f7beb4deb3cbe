"""tracking: campaign links in a table, clicks, conversions, counters, soft-bounce streaks

`campaigns.links_json` becomes the `campaign_links` table (link keys `L1…`). Counters that
`campaign stats` reads are filled from what is already stored, and from now on kept up to
date: by the services as events, clicks and bookings arrive, and by triggers (both
databases) as deliveries change status, so no code path that moves deliveries has to know.

Revision ID: 0007_tracking
Revises: 0010_admin
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_tracking"
down_revision = "0010_admin"
branch_labels = None
depends_on = None

# Per row on SQLite (no statement triggers there); `pending` is never counted (it is
# recipients minus the rest), so planning's million inserts only evaluate the WHEN clause.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
    WHEN NEW.status <> 'pending' BEGIN
      INSERT INTO campaign_counters (campaign_id, scope, name, value)
      VALUES (NEW.campaign_id, '', 'status:' || NEW.status, 1)
      ON CONFLICT (campaign_id, scope, name) DO UPDATE SET value = value + 1;
    END""",
    """CREATE TRIGGER deliveries_count_new AFTER UPDATE OF status ON deliveries
    WHEN NEW.status <> OLD.status AND NEW.status <> 'pending' BEGIN
      INSERT INTO campaign_counters (campaign_id, scope, name, value)
      VALUES (NEW.campaign_id, '', 'status:' || NEW.status, 1)
      ON CONFLICT (campaign_id, scope, name) DO UPDATE SET value = value + 1;
    END""",
    """CREATE TRIGGER deliveries_count_old AFTER UPDATE OF status ON deliveries
    WHEN NEW.status <> OLD.status AND OLD.status <> 'pending' BEGIN
      UPDATE campaign_counters SET value = value - 1
      WHERE campaign_id = OLD.campaign_id AND scope = '' AND name = 'status:' || OLD.status;
    END""",
)
# One statement-level trigger per statement on PostgreSQL (transition tables): a batch's
# UPDATE of 100 rows is one upsert per status, ordered so concurrent batches never deadlock.
_PG_FUNCTION = """
CREATE FUNCTION deliveries_count_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO campaign_counters (campaign_id, scope, name, value)
    SELECT campaign_id, '', 'status:' || status, count(*) FROM new_rows
    WHERE status <> 'pending' GROUP BY campaign_id, status ORDER BY campaign_id, status
    ON CONFLICT (campaign_id, scope, name)
    DO UPDATE SET value = campaign_counters.value + EXCLUDED.value;
  ELSE
    INSERT INTO campaign_counters (campaign_id, scope, name, value)
    SELECT campaign_id, '', 'status:' || status, sum(delta) FROM (
      SELECT n.campaign_id, n.status, 1 AS delta FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.status <> o.status AND n.status <> 'pending'
      UNION ALL
      SELECT o.campaign_id, o.status, -1 FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.status <> o.status AND o.status <> 'pending'
    ) AS changes GROUP BY campaign_id, status ORDER BY campaign_id, status
    ON CONFLICT (campaign_id, scope, name)
    DO UPDATE SET value = campaign_counters.value + EXCLUDED.value;
  END IF;
  RETURN NULL;
END $$
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION deliveries_count_status()",
    "CREATE TRIGGER deliveries_count_update AFTER UPDATE ON deliveries "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION deliveries_count_status()",
)
# What is already stored, counted once (campaign scope '').
_PER_DELIVERY = "SELECT campaign_id, count(*) AS n FROM deliveries WHERE {} GROUP BY campaign_id"
_PER_EVENT = (
    "SELECT d.campaign_id, count(DISTINCT d.id) AS n FROM deliveries d JOIN provider_events e "
    "ON e.delivery_id = d.id WHERE e.event = '{}' GROUP BY d.campaign_id"
)
_BACKFILL = {
    "delivered": _PER_DELIVERY.format("delivered_at IS NOT NULL"),
    "bounced_hard": _PER_DELIVERY.format("bounce_type = 'bounce'"),
    "bounced_soft": _PER_DELIVERY.format("bounce_type = 'blocked'"),
    "dropped": _PER_DELIVERY.format("drop_reason IS NOT NULL"),
    "deferred": _PER_EVENT.format("deferred"),
    "complaints": _PER_EVENT.format("spamreport"),
}


def upgrade() -> None:
    op.create_table(
        "campaign_links",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("link_key", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_links_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "link_key", name=op.f("pk_campaign_links")),
    )
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("link_key", sa.String(length=8), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=True),
        sa.Column("ua_family", sa.String(length=64), nullable=True),
        sa.Column("ip_prefix", sa.String(length=48), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_clicks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_clicks_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
    )
    op.create_index("ix_clicks_delivery_id_occurred_at", "clicks", ["delivery_id", "occurred_at"])
    op.create_index("ix_clicks_occurred_at", "clicks", ["occurred_at"])
    op.create_table(
        "conversions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        *(
            sa.Column(f"utm_{name}", sa.String(length=200), nullable=True)
            for name in ("source", "medium", "campaign", "content")
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("link_key", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_conversions_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
        sa.UniqueConstraint("booking_hash", name=op.f("uq_conversions_booking_hash")),
    )
    op.create_table(
        "campaign_counters",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_counters_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "scope", "name", name=op.f("pk_campaign_counters")),
    )
    op.create_table(
        "soft_bounce_streaks",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_soft_bounce_streaks_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", name=op.f("pk_soft_bounce_streaks")),
    )
    bind = op.get_bind()
    _links_to_table(bind)
    _backfill_counters(bind)
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
        op.drop_column("campaigns", "links_json")
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
        op.execute("ALTER TABLE campaigns DROP COLUMN links_json")  # SQLite ≥ 3.35


def _links_to_table(bind: sa.Connection) -> None:
    rows = _tuples(bind.execute(sa.text("SELECT id, links_json FROM campaigns")))
    links = [
        {
            "campaign_id": campaign_id,
            "link_key": link["id"],
            "url": link["url"],
            "kind": link["kind"],
            "position": position,
            "label": None,
        }
        for campaign_id, raw in rows
        for position, link in enumerate(json.loads(raw or "[]"), 1)
    ]
    if links:
        bind.execute(
            sa.text(
                "INSERT INTO campaign_links (campaign_id, link_key, url, kind, position, label) "
                "VALUES (:campaign_id, :link_key, :url, :kind, :position, :label)"
            ),
            links,
        )


def _backfill_counters(bind: sa.Connection) -> None:
    bind.execute(
        sa.text(
            "INSERT INTO campaign_counters (campaign_id, scope, name, value) "
            "SELECT campaign_id, '', 'status:' || status, count(*) FROM deliveries "
            "WHERE status <> 'pending' GROUP BY campaign_id, status"
        )
    )
    insert = "INSERT INTO campaign_counters (campaign_id, scope, name, value) "
    for name, query in _BACKFILL.items():  # constant queries above, nothing from outside
        select = f"SELECT counted.campaign_id, '', :name, counted.n FROM ({query}) AS counted"  # noqa: S608
        bind.execute(sa.text(insert + select).bindparams(name=name))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS deliveries_count_insert ON deliveries")
        op.execute("DROP TRIGGER IF EXISTS deliveries_count_update ON deliveries")
        op.execute("DROP FUNCTION IF EXISTS deliveries_count_status()")
    else:
        for name in ("deliveries_count_insert", "deliveries_count_new", "deliveries_count_old"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.add_column(
        "campaigns", sa.Column("links_json", sa.Text(), nullable=False, server_default="[]")
    )
    rows = _tuples(
        bind.execute(
            sa.text(
                "SELECT campaign_id, link_key, url, kind FROM campaign_links "
                "ORDER BY campaign_id, position"
            )
        )
    )
    by_campaign: dict[int, list[dict[str, str]]] = {}
    for campaign_id, key, url, kind in rows:
        by_campaign.setdefault(campaign_id, []).append({"id": key, "url": url, "kind": kind})
    for campaign_id, links in by_campaign.items():
        bind.execute(
            sa.text("UPDATE campaigns SET links_json = :links WHERE id = :id"),
            {"links": json.dumps(links), "id": campaign_id},
        )
    for table in ("soft_bounce_streaks", "campaign_counters", "conversions"):
        op.drop_table(table)
    op.drop_index("ix_clicks_occurred_at", table_name="clicks")
    op.drop_index("ix_clicks_delivery_id_occurred_at", table_name="clicks")
    op.drop_table("clicks")
    op.drop_table("campaign_links")


def _tuples(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Rows typed as plain tuples (a migration keeps its own copy of
    `storage.database.tuples`: it never imports app code)."""
    return list(rows)
