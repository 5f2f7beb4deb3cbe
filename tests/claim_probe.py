"""Whom the engine's next claim would mail, asked of the engine's own claim-time query.

`claimable(db, subscriber_ids)` puts a pending delivery for each subscriber in a throwaway
campaign's batch, reads it with `batch_store.load_recipients` (the query `send_batch` runs
after every claim: active and unsuppressed now) and rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from types import SimpleNamespace

from newsletter.storage.batch_store import load_recipients
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries


def claimable(db: Database, subscriber_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(subscriber_ids))
    with db.write() as conn:
        probe = conn.begin_nested()
        campaign_id = conn.execute(
            campaigns.insert()
            .values(
                key="claim-probe", status="sending", template="article", segment="everyone",
                subject="Probe", preheader="Probe", sender_name="Clinic",
                sender_email="n@c.example", reply_to="r@c.example", articles_json="[]",
                html="<p>x</p>", text="x", batch_size=len(ids) or 1, unknown_policy="hold",
                late_send_window_s=0, to_send=len(ids), created_at=datetime.now(UTC),
            )
            .returning(campaigns.c.id)
        ).scalar_one()  # fmt: skip
        by_delivery = {
            conn.execute(
                deliveries.insert()
                .values(campaign_id=campaign_id, subscriber_id=subscriber_id, batch_seq=0,
                        status="pending")
                .returning(deliveries.c.id)
            ).scalar_one(): subscriber_id
            for subscriber_id in ids
        }  # fmt: skip
        rows = load_recipients(conn, SimpleNamespace(campaign_id=campaign_id, seq=0))  # type: ignore[arg-type]
        probe.rollback()
    return {by_delivery[row.id] for row in rows if row.eligible}
