"""Staff operations on one subscriber: add, show, edit, unsubscribe, resubscribe, tags, lists.

Status changes that matter legally leave a consent record (append-only) and, for
withdrawals, a suppression entry that every send and import consults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from newsletter.audiences.attributes import AttributeSpec, coerce
from newsletter.audiences.emails import address_forms, normalize_email, validate_email
from newsletter.audiences.segments import KIND_OF_TYPE
from newsletter.domain.subscribers import (
    ConsentEvent,
    ConsentMethod,
    SubscriberStatus,
    email_hash,
    lookup_hashes,
)
from newsletter.errors import NotFound, ValidationError
from newsletter.storage.audience_queries import (
    attributes_of,
    ensure_consent_text,
    insert_ignoring_conflicts,
    list_by_name,
    name_ids,
    subscriber_by_email,
    suppressed_hashes,
    tags_of,
    topics_of,
)
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import attribute_value_columns
from newsletter.storage.tables import (
    consent_records,
    lists,
    subscriber_attributes,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    subscriptions,
    tags,
    topics,
)

MAX_NAME = 200


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _clean_name(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_NAME or any(c in value for c in "\r\n\x00"):
        raise ValidationError(f"{field} is longer than {MAX_NAME} characters or has line breaks")
    return value or None


def typed_attributes(
    raw: Mapping[str, str], specs: Mapping[str, AttributeSpec]
) -> dict[str, tuple[str, Any]]:
    """Convert `name=value` strings to (kind, value) for declared attributes only."""
    typed: dict[str, tuple[str, Any]] = {}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None:
            raise ValidationError(
                f"unknown attribute {name!r}",
                fix="declare it in audiences/attributes.yaml ("
                + (", ".join(sorted(specs)) or "none declared yet")
                + ")",
            )
        try:
            typed[name] = (KIND_OF_TYPE[spec.type], coerce(spec, value))
        except ValueError as exc:
            raise ValidationError(f"attribute {name!r}: {exc}") from None
    return typed


def require_subscriber(conn: Connection, email: str) -> Any:
    row = subscriber_by_email(conn, normalize_email(email))
    if row is None:
        raise NotFound(f"no subscriber with the address {email!r}", fix="check the spelling")
    return row


def require_list(conn: Connection, name: str) -> Any:
    row = list_by_name(conn, name)
    if row is None:
        raise NotFound(f"unknown list {name!r}", fix=f"create it: newsletter lists create {name}")
    return row


def record_consent(
    conn: Connection,
    *,
    subscriber_id: int,
    email: str,
    event: ConsentEvent,
    method: ConsentMethod,
    source: str,
    now: datetime,
    list_id: int | None = None,
    consent_text: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    version = ensure_consent_text(conn, consent_text, now) if consent_text else None
    conn.execute(
        consent_records.insert().values(
            subscriber_id=subscriber_id,
            email=email,
            event=event.value,
            occurred_at=now,
            method=method.value,
            source=source,
            list_id=list_id,
            consent_text_version=version,
            ip=ip,
            user_agent=user_agent,
        )
    )


def set_attributes(
    conn: Connection, subscriber_id: int, typed: Mapping[str, tuple[str, Any]]
) -> None:
    for name, (kind, value) in typed.items():
        conn.execute(
            delete(subscriber_attributes).where(
                subscriber_attributes.c.subscriber_id == subscriber_id,
                subscriber_attributes.c.name == name,
            )
        )
        conn.execute(
            subscriber_attributes.insert().values(
                subscriber_id=subscriber_id, name=name, **attribute_value_columns(kind, value)
            )
        )


def add_names(
    conn: Connection,
    subscriber_id: int,
    *,
    tag_names: Iterable[str] = (),
    topic_names: Iterable[str] = (),
) -> None:
    for link, table, key, names in (
        (subscriber_tags, tags, "tag_id", tag_names),
        (subscriber_topics, topics, "topic_id", topic_names),
    ):
        ids = name_ids(conn, table, [n.strip() for n in names if n.strip()])
        insert_ignoring_conflicts(
            conn, link, [{"subscriber_id": subscriber_id, key: i} for i in ids.values()]
        )


def add_subscriber(
    db: Database,
    *,
    key: str,
    email: str,
    consent_text: str,
    staff_user: str,
    list_name: str | None = None,
    consent_confirmed: bool = False,
    first_name: str | None = None,
    last_name: str | None = None,
    time_zone: str | None = None,
    tags: Iterable[str] = (),
    topics: Iterable[str] = (),
    attributes: Mapping[str, str] | None = None,
    specs: Mapping[str, AttributeSpec] | None = None,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Staff entry of one person. Returns (id, status): `pending` for a double opt-in list
    unless consent was confirmed elsewhere. Refuses suppressed and erased addresses."""
    now = _now(now)
    if not consent_text.strip():
        raise ValidationError("a consent wording is required", fix='pass --consent "…"')
    try:
        address = validate_email(email)
    except ValueError as exc:
        raise ValidationError(f"{email!r} is not a valid address: {exc}") from None
    typed = typed_attributes(attributes or {}, specs or {})
    digest = email_hash(key, address)
    with db.write() as conn:
        if subscriber_by_email(conn, address) is not None:
            raise ValidationError(
                f"{address} is already a subscriber", fix="use `newsletter subscribers edit`"
            )
        if suppressed_hashes(conn, lookup_hashes(key, address_forms(email))):
            raise ValidationError(
                f"{address} is suppressed (unsubscribed, bounced, complained or erased)",
                fix="it can only come back through a fresh double opt-in by the person",
            )
        target = require_list(conn, list_name) if list_name else None
        pending = bool(target is not None and target.double_opt_in and not consent_confirmed)
        status = SubscriberStatus.PENDING if pending else SubscriberStatus.ACTIVE
        subscriber_id: int = conn.execute(
            subscribers.insert()
            .values(
                email=address,
                email_hash=digest,
                first_name=_clean_name(first_name, "first name"),
                last_name=_clean_name(last_name, "last name"),
                status=status.value,
                time_zone=time_zone,
                signed_up_at=now,
                created_at=now,
                updated_at=now,
            )
            .returning(subscribers.c.id)
        ).scalar_one()
        if target is not None:
            conn.execute(
                subscriptions.insert().values(
                    subscriber_id=subscriber_id,
                    list_id=target.id,
                    status=status.value,
                    created_at=now,
                    updated_at=now,
                    confirmed_at=None if pending else now,
                )
            )
        set_attributes(conn, subscriber_id, typed)
        add_names(conn, subscriber_id, tag_names=tags, topic_names=topics)
        record_consent(
            conn,
            subscriber_id=subscriber_id,
            email=address,
            event=ConsentEvent.CONSENT_GIVEN,
            method=ConsentMethod.STAFF_ENTRY,
            source=f"staff:{staff_user}" + (":confirmed-elsewhere" if consent_confirmed else ""),
            list_id=target.id if target is not None else None,
            consent_text=consent_text,
            now=now,
        )
    return subscriber_id, status.value


def subscriber_profile(db: Database, email: str) -> dict[str, Any]:
    """Everything staff see about one person (show)."""
    with db.read() as conn:
        row = require_subscriber(conn, email)
        memberships = conn.execute(
            select(lists.c.name, subscriptions.c.status, subscriptions.c.confirmed_at)
            .join(lists, lists.c.id == subscriptions.c.list_id)
            .where(subscriptions.c.subscriber_id == row.id)
            .order_by(lists.c.name)
        ).all()
        return {
            "id": row.id,
            "email": row.email,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "status": row.status,
            "time_zone": row.time_zone,
            "signed_up_at": row.signed_up_at,
            "updated_at": row.updated_at,
            "tags": tags_of(conn, row.id),
            "topics": topics_of(conn, row.id),
            "attributes": attributes_of(conn, row.id),
            "lists": {m.name: m.status for m in memberships},
        }


def edit_subscriber(
    db: Database,
    email: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    time_zone: str | None = None,
    attributes: Mapping[str, str] | None = None,
    specs: Mapping[str, AttributeSpec] | None = None,
    now: datetime | None = None,
) -> None:
    """Change profile fields (None leaves a field as it is; status changes have their own verbs)."""
    now = _now(now)
    typed = typed_attributes(attributes or {}, specs or {})
    values: dict[str, Any] = {"updated_at": now}
    if first_name is not None:
        values["first_name"] = _clean_name(first_name, "first name")
    if last_name is not None:
        values["last_name"] = _clean_name(last_name, "last name")
    if time_zone is not None:
        values["time_zone"] = time_zone.strip() or None
    with db.write() as conn:
        row = require_subscriber(conn, email)
        conn.execute(update(subscribers).where(subscribers.c.id == row.id).values(**values))
        set_attributes(conn, row.id, typed)


def tag_subscriber(
    db: Database, email: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> list[str]:
    """Add and remove tags; returns the resulting tags."""
    with db.write() as conn:
        row = require_subscriber(conn, email)
        add_names(conn, row.id, tag_names=list(add))
        removed = [n.strip() for n in remove]
        if removed:
            conn.execute(
                delete(subscriber_tags).where(
                    subscriber_tags.c.subscriber_id == row.id,
                    subscriber_tags.c.tag_id.in_(select(tags.c.id).where(tags.c.name.in_(removed))),
                )
            )
        return tags_of(conn, row.id)


def add_to_list(
    db: Database,
    email: str,
    list_name: str,
    *,
    consent_text: str,
    staff_user: str,
    now: datetime | None = None,
) -> str:
    """Staff adds an existing, mailable subscriber to a single opt-in list, with consent.
    Returns the membership status. (Double opt-in lists go through request_confirmation.)"""
    now = _now(now)
    if not consent_text.strip():
        raise ValidationError("adding someone to a list needs the consent wording")
    with db.write() as conn:
        row = require_subscriber(conn, email)
        target = require_list(conn, list_name)
        if target.double_opt_in:
            raise ValidationError(
                f"{list_name!r} is a double opt-in list",
                fix="the person must confirm by email: use `newsletter subscribers add` "
                "(or the web form), or pass --consent-confirmed to an import",
            )
        if row.status != SubscriberStatus.ACTIVE:
            raise ValidationError(
                f"{row.email} is {row.status}", fix="only active subscribers can join a list"
            )
        membership = conn.scalar(
            select(subscriptions.c.status).where(
                subscriptions.c.subscriber_id == row.id, subscriptions.c.list_id == target.id
            )
        )
        if membership == "active":
            return "active"
        if membership is not None:
            raise ValidationError(
                f"{row.email} left {list_name!r}",
                fix=f"use `newsletter subscribers resubscribe --list {list_name}` with the "
                "new consent wording",
            )
        insert_ignoring_conflicts(
            conn,
            subscriptions,
            [{"subscriber_id": row.id, "list_id": target.id, "status": "active",
              "created_at": now, "updated_at": now, "confirmed_at": now}],
        )  # fmt: skip
        record_consent(
            conn,
            subscriber_id=row.id,
            email=row.email,
            event=ConsentEvent.CONSENT_GIVEN,
            method=ConsentMethod.STAFF_ENTRY,
            source=f"staff:{staff_user}",
            list_id=target.id,
            consent_text=consent_text,
            now=now,
        )
    return "active"
