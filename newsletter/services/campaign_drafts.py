"""Campaigns as the admin makes them: from stored articles (the library), with an author;
edited while draft (subject, preheader, sender: the email is compiled again and any approval
is withdrawn); duplicated; deleted while draft; listed with their approval and progress.

Progress comes from the batch ledger (`send_batches`, through its (campaign, status) index)
and `campaigns.to_send`, never from counting a campaign's deliveries per page view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from newsletter.accounts.service import Actor
from newsletter.audiences.emails import validate_email
from newsletter.config import Settings
from newsletter.domain.campaigns import CampaignStatus
from newsletter.domain.sending import OPEN_BATCH
from newsletter.errors import ValidationError
from newsletter.rendering.compose import compile_email, single_line
from newsletter.services import approval, article_library
from newsletter.services.campaign_schedule import start_now
from newsletter.services.campaigns import create_campaign_from_articles
from newsletter.storage import article_store, audit_log, campaign_store, link_store, workflow_store
from newsletter.storage.database import Database
from newsletter.storage.library_tables import campaign_workflow
from newsletter.storage.sending_tables import campaigns, send_batches

MAX_SUBJECT = 200
MAX_PREHEADER = 300
MAX_SENDER_NAME = 100
PAGE_SIZE = 50


def _who(actor: Actor | None, fallback: str) -> str:
    return actor.audit_name if actor else fallback


def create_from_library(
    db: Database,
    settings: Settings,
    article_ids: Sequence[int],
    *,
    segment: str | None = None,
    list_name: str | None = None,
    template: str = "article",
    subject: str | None = None,
    campaign_key: str | None = None,
    author: Actor | None = None,
    actor: str = "",
    now: datetime | None = None,
) -> int:
    """A draft from stored articles (in order); the library link and the author are stored
    with the campaign in one transaction."""
    now = now or datetime.now(UTC)
    if subject is not None:
        subject = _text(subject, "subject", MAX_SUBJECT) or None
    loaded = article_library.articles_for_campaign(db, article_ids, site_url=settings.website_url)
    ids = list(article_ids)

    def link(conn: Any, campaign_id: int) -> None:
        article_store.link_campaign(conn, campaign_id, ids)
        workflow_store.insert_workflow(conn, campaign_id, author.id if author else None)
        audit_log.record(
            conn,
            actor=_who(author, actor),
            action="campaign-created",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={
                "articles": ids,
                "target": f"list:{list_name}" if list_name else f"segment:{segment}",
            },
        )

    return create_campaign_from_articles(
        db,
        settings,
        loaded,
        segment=segment,
        list_name=list_name,
        template=template,
        subject=subject,
        campaign_key=campaign_key,
        now=now,
        on_insert=link,
    )


def _text(value: str, name: str, limit: int) -> str:
    value = single_line(value, name=name)
    if len(value) > limit:
        raise ValidationError(
            f"the {name} has {len(value):,} characters; at most {limit}",
            where=name,
            fix=f"shorten the {name}",
        )
    return value


@dataclass(frozen=True)
class DraftEdit:
    subject: str
    preheader: str
    sender_name: str
    sender_email: str


def edit_draft(
    db: Database,
    settings: Settings,
    campaign_id: int,
    edit: DraftEdit,
    *,
    actor: Actor | None,
    now: datetime | None = None,
) -> bool:
    """Change subject, preheader and sender of a draft (compiled again from its articles).
    Returns True if an approval or submission was withdrawn by the edit."""
    now = now or datetime.now(UTC)
    subject = _text(edit.subject, "subject", MAX_SUBJECT)
    preheader = _text(edit.preheader, "preheader", MAX_PREHEADER)
    sender_name = _text(edit.sender_name, "sender name", MAX_SENDER_NAME)
    if not subject or not sender_name:
        raise ValidationError(
            "the subject and the sender name cannot be empty", where="subject", fix="write them"
        )
    try:
        sender_email = validate_email(edit.sender_email)
    except ValueError as exc:
        raise ValidationError(
            f"the sender address is not valid ({exc})",
            where="sender email",
            fix="use an address of the clinic's sending domain",
        ) from None
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        ids = article_store.campaign_article_ids(conn, campaign_id)
    _require_draft(row)
    if not ids:
        raise ValidationError(
            f"campaign {campaign_id} was made from files before the article library",
            where=f"campaign {campaign_id}",
            fix="duplicate it from a stored article instead",
        )
    loaded = article_library.articles_for_campaign(db, ids, site_url=settings.website_url)
    tuned = settings.model_copy(update={"sender_name": sender_name, "sender_email": sender_email})
    compiled = compile_email(
        loaded,
        tuned,
        template=row.template,
        campaign_key=row.key,
        subject=subject,
        preheader=preheader,
        today=now.date(),
    )
    values = {
        "subject": compiled.subject,
        "preheader": compiled.preheader,
        "sender_name": compiled.sender_name,
        "sender_email": compiled.sender_email,
        "html": compiled.html.source,
        "text": compiled.text.source,
    }
    with db.write() as conn:
        if not campaign_store.update_while(conn, campaign_id, CampaignStatus.DRAFT, **values):
            _require_draft(campaign_store.get_campaign(conn, campaign_id))
        link_store.replace_links(conn, campaign_id, compiled.links)
        withdrawn = approval.content_edited(conn, campaign_id, actor, now)
        audit_log.record(
            conn,
            actor=_who(actor, "staff:cli"),
            action="campaign-edited",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={"approval_withdrawn": withdrawn},
        )
    return withdrawn


def duplicate(
    db: Database, campaign_id: int, *, actor: Actor | None, now: datetime | None = None
) -> int:
    """A new draft with the same content, articles and segment; no approval."""
    now = now or datetime.now(UTC)
    skip = {
        "id",
        "status",
        "scheduled_at",
        "pause_reason",
        "to_send",
        "created_at",
        "started_at",
        "finished_at",
    }
    with db.write() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        values = {k: v for k, v in row._mapping.items() if k not in skip}
        new_id = campaign_store.insert_campaign(
            conn, {**values, "status": "draft", "to_send": 0, "created_at": now}
        )
        link_store.insert_links(
            conn, new_id, [link.as_link() for link in link_store.links_of(conn, campaign_id)]
        )
        ids = article_store.campaign_article_ids(conn, campaign_id)
        if ids:
            article_store.link_campaign(conn, new_id, ids)
        workflow_store.insert_workflow(conn, new_id, actor.id if actor else None)
        audit_log.record(
            conn,
            actor=_who(actor, "staff:cli"),
            action="campaign-duplicated",
            target=f"campaign:{new_id}",
            now=now,
            detail={"from": campaign_id},
        )
    return new_id


def delete_draft(
    db: Database, campaign_id: int, *, actor: Actor | None, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    with db.write() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
        _require_draft(row)
        result = conn.execute(
            delete(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.status == "draft")
        )
        if result.rowcount != 1:  # pragma: no cover - the write lock holds the row
            raise ValidationError(f"campaign {campaign_id} changed meanwhile")
        audit_log.record(
            conn,
            actor=_who(actor, "staff:cli"),
            action="campaign-deleted",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={"subject_chars": len(row.subject)},
        )


def send_now(
    db: Database, settings: Settings, campaign_id: int, *, actor: Actor, now: datetime
) -> str:
    """`campaign_schedule.start_now` (which checks the approval) as `actor`, recorded in
    the audit log; returns the status it is in."""
    status = start_now(db, settings, campaign_id, now=now)
    with db.write() as conn:
        audit_log.record(
            conn,
            actor=actor.audit_name,
            action="campaign-send",
            target=f"campaign:{campaign_id}",
            now=now,
            detail={"status": status},
        )
    return status


def _require_draft(row: Any) -> None:
    if row.status != "draft":
        raise ValidationError(
            f"campaign {row.id} is {row.status}; only drafts can be changed",
            where=f"campaign {row.id}",
            fix="duplicate it to make a new draft",
        )


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return 0 if not self.total else int(100 * self.done / self.total)


def batch_progress(db: Database, campaign_ids: Sequence[int]) -> dict[int, Progress]:
    """Finished / all batches per campaign (split batches are replaced, not counted): one
    GROUP BY over the (campaign_id, status) index."""
    if not campaign_ids:
        return {}
    with db.read() as conn:
        rows = conn.execute(
            select(send_batches.c.campaign_id, send_batches.c.status, func.count())
            .where(send_batches.c.campaign_id.in_(list(campaign_ids)))
            .group_by(send_batches.c.campaign_id, send_batches.c.status)
        ).all()
    totals: dict[int, list[int]] = {}
    for campaign_id, status, count in rows:
        if status == "split":
            continue
        entry = totals.setdefault(campaign_id, [0, 0])
        entry[1] += count
        if status not in OPEN_BATCH:
            entry[0] += count
    return {cid: Progress(done, total) for cid, (done, total) in totals.items()}


SHOWN = [c for c in campaigns.c if c.name not in ("html", "text", "articles_json")]


def page(db: Database, settings: Settings, campaign_id: int) -> tuple[Any, list[Any], Any]:
    """What a campaign's page shows, in one read: its row (without the compiled email),
    its articles (id, title) and its approval workflow."""
    with db.read() as conn:
        row = conn.execute(select(*SHOWN).where(campaigns.c.id == campaign_id)).first()
        if row is None:
            campaign_store.get_campaign(conn, campaign_id)  # raises NotFound
        titles = article_store.titles(conn, article_store.campaign_article_ids(conn, campaign_id))
        flow = approval.workflow_in(conn, settings, campaign_id)
    return row, titles, flow


class ProgressCache:
    """`batch_progress` remembered for a few seconds per campaign: under many viewers the
    ledger is read once per campaign per `ttl_s`, not once per page view."""

    def __init__(self, db: Database, *, ttl_s: float = 2.0, clock: Any = time.monotonic):
        self.db, self.ttl_s, self.clock = db, ttl_s, clock
        self._entries: dict[int, tuple[float, Progress | None]] = {}
        self._lock = threading.Lock()

    def get(self, campaign_ids: Sequence[int]) -> dict[int, Progress]:
        now = self.clock()
        with self._lock:
            fresh = {i: self._entries[i] for i in campaign_ids if i in self._entries}
        missing = [i for i in campaign_ids if i not in fresh or fresh[i][0] <= now]
        found: dict[int, Progress | None] = {i: fresh[i][1] for i in campaign_ids if i in fresh}
        if missing:
            read = batch_progress(self.db, missing)
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                for i in missing:
                    found[i] = read.get(i)
                    self._entries[i] = (now + self.ttl_s, read.get(i))
        return {i: p for i, p in found.items() if p is not None}


def list_page(db: Database, *, page: int = 1) -> tuple[list[Any], bool]:
    """One page of campaigns, newest first, with their approval state, and whether more
    follow."""
    offset = (max(page, 1) - 1) * PAGE_SIZE
    with db.read() as conn:
        rows = list(
            conn.execute(
                select(
                    campaigns.c.id,
                    campaigns.c.status,
                    campaigns.c.target,
                    campaigns.c.subject,
                    campaigns.c.scheduled_at,
                    campaigns.c.created_at,
                    campaigns.c.to_send,
                    func.coalesce(campaign_workflow.c.approval, "none").label("approval"),
                )
                .select_from(campaigns)
                .outerjoin(campaign_workflow, campaign_workflow.c.campaign_id == campaigns.c.id)
                .order_by(campaigns.c.id.desc())
                .limit(PAGE_SIZE + 1)
                .offset(offset)
            )
        )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
