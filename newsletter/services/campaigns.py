"""Campaign use cases: create, pause, resume, cancel, retry-failed, status (test sends are
`test_sends`).

When a campaign goes out is `campaign_schedule`; what it must pass first is `campaign_checks`.

A campaign stores its article and its compiled email when it is created, so later edits to
the article file change nothing that was approved. Every status change is a compare-and-set.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update

from newsletter.articles import Article, load_article
from newsletter.audiences.targets import Target
from newsletter.config import Settings
from newsletter.delivery import max_batch
from newsletter.domain.campaigns import TERMINAL, CampaignStatus
from newsletter.domain.sending import BatchStatus, DeliveryStatus
from newsletter.errors import ValidationError
from newsletter.rendering.compose import CompiledEmail, compile_email
from newsletter.rendering.links import Link
from newsletter.rendering.placeholders import UNSUBSCRIBE_TOKEN, FillableText
from newsletter.services.segments import get_segment
from newsletter.services.subscribers import require_list
from newsletter.storage import campaign_store, link_store
from newsletter.storage.database import Database
from newsletter.storage.sending_tables import campaigns, deliveries, send_batches


@dataclass(frozen=True)
class CampaignReport:
    id: int
    key: str
    status: str
    segment: str
    subject: str
    pause_reason: str | None
    to_send: int
    deliveries: dict[str, int]
    batches: dict[str, int]
    target: str = ""  # segment:NAME or list:NAME
    time_zone: str = "UTC"  # the zone its send time is shown in
    scheduled_at: str | None = None  # ISO 8601, UTC (…Z)
    scheduled_local: str | None = None  # ISO 8601 in `time_zone`, with its offset

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def create_campaign(
    db: Database,
    settings: Settings,
    *,
    articles: Sequence[Path],
    segment: str | None = None,
    list_name: str | None = None,
    template: str = "article",
    subject: str | None = None,
    campaign_key: str | None = None,
    scheduled_at: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Store a draft campaign with its article(s) and compiled email, for a segment or for
    everyone on a list; refuse an unknown segment or list. `creation_warnings` says what the
    checklist will refuse at send time."""
    loaded = [
        load_article(path, site_url=settings.website_url, limits=settings.article_limits)
        for path in articles
    ]
    return create_campaign_from_articles(
        db,
        settings,
        loaded,
        segment=segment,
        list_name=list_name,
        template=template,
        subject=subject,
        campaign_key=campaign_key,
        scheduled_at=scheduled_at,
        now=now,
    )


def create_campaign_from_articles(
    db: Database,
    settings: Settings,
    loaded: Sequence[Article],
    *,
    segment: str | None = None,
    list_name: str | None = None,
    template: str = "article",
    subject: str | None = None,
    campaign_key: str | None = None,
    scheduled_at: datetime | None = None,
    now: datetime | None = None,
    on_insert: Callable[[Connection, int], None] | None = None,
) -> int:
    """`create_campaign` for Articles already loaded (the article library); `on_insert` runs
    in the same transaction with the new id (the library links the campaign there)."""
    now = now or datetime.now(UTC)
    target = _target(db, settings, segment, list_name)
    compiled = compile_email(
        loaded,
        settings,
        template=template,
        campaign_key=campaign_key,
        subject=subject,
        today=now.date(),
    )
    with db.write() as conn:
        campaign_id = campaign_store.insert_campaign(
            conn,
            {
                "key": compiled.campaign_key,
                "status": CampaignStatus.DRAFT.value,
                "template": template,
                "segment": segment or str(target),
                "target": str(target),
                "time_zone": settings.time_zone,
                "subject": compiled.subject,
                "preheader": compiled.preheader,
                "sender_name": compiled.sender_name,
                "sender_email": compiled.sender_email,
                "reply_to": compiled.reply_to,
                "articles_json": json.dumps([dataclasses.asdict(a) for a in loaded], default=str),
                "html": compiled.html.source,
                "text": compiled.text.source,
                # Never more than the backend takes in one call (SMTP: one recipient).
                "batch_size": min(settings.batch_size, max_batch(settings.delivery_backend)),
                "unknown_policy": settings.effective_unknown_policy,
                "scheduled_at": scheduled_at,
                "late_send_window_s": settings.late_send_window_s,
                "to_send": 0,
                "created_at": now,
            },
        )
        link_store.insert_links(conn, campaign_id, compiled.links)
        if on_insert is not None:
            on_insert(conn, campaign_id)
        return campaign_id


def _target(db: Database, settings: Settings, segment: str | None, list_name: str | None) -> Target:
    if (segment is None) == (list_name is None):
        raise ValidationError(
            "a campaign goes to one segment or to one list",
            fix="give either --segment NAME or --list NAME",
        )
    if list_name is not None:
        with db.read() as conn:
            require_list(conn, list_name)
        return Target("list", list_name)
    assert segment is not None  # exactly one of the two was given (checked above)
    get_segment(settings.audiences_dir, segment)  # NotFound / ValidationError with file+line
    return Target("segment", segment)


def compiled_email(row: Any, settings: Settings, links: Sequence[Link] = ()) -> CompiledEmail:
    """The stored email of a campaign, ready to personalise (never recompiled)."""
    return CompiledEmail(
        template=row.template,
        subject=row.subject,
        preheader=row.preheader,
        sender_name=row.sender_name,
        sender_email=row.sender_email,
        reply_to=row.reply_to,
        html=FillableText(row.html),
        text=FillableText(row.text),
        links=tuple(links),
        campaign_key=row.key,
        unsubscribe_url=f"{settings.public_url}/u/{UNSUBSCRIBE_TOKEN}",
        first_name_fallback=settings.first_name_fallback,
    )


def pause(db: Database, campaign_id: int, *, reason: str = "paused by a person") -> None:
    _change(db, campaign_id, CampaignStatus.PAUSED, pause_reason=reason)


def resume(db: Database, campaign_id: int) -> None:
    _change(
        db,
        campaign_id,
        CampaignStatus.SENDING,
        only_from=[CampaignStatus.PAUSED.value],
        pause_reason=None,
    )


def cancel(db: Database, campaign_id: int, *, now: datetime) -> None:
    """Stop for good: batches not yet in flight and their recipients are cancelled."""
    with db.write() as conn:
        if not campaign_store.transition(
            conn, campaign_id, CampaignStatus.CANCELLED, finished_at=now
        ):
            row = campaign_store.get_campaign(conn, campaign_id)
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}",
                fix="only campaigns that have not ended can be cancelled",
            )
        conn.execute(
            update(send_batches)
            .where(
                send_batches.c.campaign_id == campaign_id,
                send_batches.c.status.in_(
                    (BatchStatus.PENDING.value, BatchStatus.RETRY_WAIT.value)
                ),
            )
            .values(status=BatchStatus.CANCELLED.value)
        )
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.campaign_id == campaign_id,
                deliveries.c.status == DeliveryStatus.PENDING.value,
                ~deliveries.c.batch_seq.in_(
                    select(send_batches.c.seq).where(
                        send_batches.c.campaign_id == campaign_id,
                        send_batches.c.status.in_(
                            (BatchStatus.IN_FLIGHT.value, BatchStatus.UNKNOWN.value)
                        ),
                    )
                ),
            )
            .values(status=DeliveryStatus.CANCELLED.value)
        )


def retry_failed(db: Database, campaign_id: int) -> int:
    """Take a sent_with_errors campaign back to sending, for its failed recipients only."""
    with db.write() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        if row.status != CampaignStatus.SENT_WITH_ERRORS.value:
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}",
                fix="retry-failed applies to campaigns sent with errors",
            )
        failed: list[int] = list(
            conn.scalars(
                select(deliveries.c.id)
                .where(
                    deliveries.c.campaign_id == campaign_id,
                    deliveries.c.status == DeliveryStatus.FAILED.value,
                )
                .order_by(deliveries.c.subscriber_id)
            )
        )
        top = (
            conn.scalar(
                select(func.max(send_batches.c.seq)).where(
                    send_batches.c.campaign_id == campaign_id
                )
            )
            or 0
        )
        size = row.batch_size
        for index in range(0, len(failed), size):
            seq = top + 1 + index // size
            conn.execute(
                send_batches.insert().values(
                    campaign_id=campaign_id, seq=seq, status=BatchStatus.PENDING.value, attempts=0
                )
            )
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(failed[index : index + size]))
                .values(status=DeliveryStatus.PENDING.value, batch_seq=seq, last_error=None)
            )
        campaign_store.transition(
            conn,
            campaign_id,
            CampaignStatus.SENDING,
            only_from=[CampaignStatus.SENT_WITH_ERRORS.value],
            finished_at=None,
        )
        return len(failed)


def _change(
    db: Database,
    campaign_id: int,
    target: CampaignStatus,
    only_from: list[str] | None = None,
    **values: Any,
) -> None:
    with db.write() as conn:
        if not campaign_store.transition(conn, campaign_id, target, only_from=only_from, **values):
            row = campaign_store.get_campaign(conn, campaign_id)
            raise ValidationError(
                f"campaign {campaign_id} is {row.status}; cannot become {target.value}",
                fix="see `newsletter campaign status`",
            )


def report(db: Database, campaign_id: int) -> CampaignReport:
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        return CampaignReport(
            id=row.id,
            key=row.key,
            status=row.status,
            segment=row.segment,
            subject=row.subject,
            pause_reason=row.pause_reason,
            to_send=row.to_send,
            deliveries=campaign_store.delivery_counts(conn, campaign_id),
            batches=campaign_store.batch_counts(conn, campaign_id),
            target=row.target,
            time_zone=row.time_zone,
            scheduled_at=_iso_utc(row.scheduled_at),
            scheduled_local=(
                row.scheduled_at.astimezone(ZoneInfo(row.time_zone)).isoformat()
                if row.scheduled_at
                else None
            ),
        )


def _iso_utc(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def list_campaigns(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(
                    campaigns.c.id,
                    campaigns.c.key,
                    campaigns.c.status,
                    campaigns.c.segment,
                    campaigns.c.subject,
                    campaigns.c.created_at,
                    campaigns.c.target,
                    campaigns.c.time_zone,
                    campaigns.c.scheduled_at,
                ).order_by(campaigns.c.id)
            )
        )
