"""The admin's dashboard: the most recent campaigns with their key figures, and what waits
for someone (approvals, scheduled sends).

Cheap whatever the audience's size: the campaigns are read newest first by primary key
(LIMIT), and their figures come from `campaign_counters` (kept as deliveries, events, clicks
and bookings happen) in one read on its (campaign_id, scope, name) key. No count over
subscribers, deliveries or clicks runs per view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from newsletter.storage import counter_store
from newsletter.storage.database import Database
from newsletter.storage.library_tables import campaign_workflow
from newsletter.storage.sending_tables import campaigns

RECENT = 10
FIGURES = ["status:accepted", "status:failed", "status:skipped", "status:cancelled", "delivered",
           "human_clickers", "consultation_clickers", "conversions", "machine_clicks"]  # fmt: skip


@dataclass(frozen=True)
class CampaignLine:
    id: int
    subject: str
    status: str
    approval: str
    target: str
    time_zone: str
    scheduled_at: datetime | None
    created_at: datetime
    recipients: int
    figures: dict[str, int]

    def f(self, name: str) -> int:
        return self.figures.get(name, 0)

    @property
    def done(self) -> int:
        return sum(self.f(f"status:{s}") for s in ("accepted", "failed", "skipped", "cancelled"))

    @property
    def percent(self) -> int:
        if self.status in ("sent", "sent_with_errors"):
            return 100
        return min(100, int(100 * self.done / self.recipients)) if self.recipients else 0

    @property
    def click_rate(self) -> float:
        base = self.f("delivered") or self.f("status:accepted")
        return self.f("human_clickers") / base if base else 0.0


@dataclass(frozen=True)
class Dashboard:
    recent: list[CampaignLine]
    waiting_approval: int  # campaigns submitted and not yet decided
    scheduled: list[CampaignLine]


def _lines(rows: list[Any], figures: dict[int, dict[str, int]]) -> list[CampaignLine]:
    return [
        CampaignLine(r.id, r.subject, r.status, r.approval, r.target, r.time_zone,
                     r.scheduled_at, r.created_at, int(r.to_send or 0), figures.get(r.id, {}))
        for r in rows
    ]  # fmt: skip


def dashboard(db: Database, *, limit: int = RECENT) -> Dashboard:
    c = campaigns.c
    approval = func.coalesce(campaign_workflow.c.approval, "none").label("approval")
    columns = (c.id, c.subject, c.status, c.target, c.time_zone, c.scheduled_at, c.created_at,
               c.to_send, approval)  # fmt: skip
    joined = campaigns.outerjoin(campaign_workflow, campaign_workflow.c.campaign_id == c.id)
    with db.read() as conn:
        recent = list(
            conn.execute(select(*columns).select_from(joined).order_by(c.id.desc()).limit(limit))
        )
        upcoming = list(
            conn.execute(
                select(*columns)
                .select_from(joined)
                .where(c.status == "scheduled")  # on ix_campaigns_status
                .order_by(c.scheduled_at)
                .limit(limit)
            )
        )
        waiting = conn.scalar(
            select(func.count())
            .select_from(campaign_workflow)
            .join(campaigns, campaigns.c.id == campaign_workflow.c.campaign_id)
            .where(campaign_workflow.c.approval == "submitted", c.status == "draft")
        )
        figures = counter_store.totals_of(conn, [r.id for r in recent], FIGURES)
    return Dashboard(_lines(recent, figures), int(waiting or 0), _lines(upcoming, {}))
