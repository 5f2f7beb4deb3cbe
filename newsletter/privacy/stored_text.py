"""Addresses in stored text: raw webhook batches and provider error texts.

Raw batches are kept only until processed plus a retention period (`purge_raw_batches`,
run by the engine tick and `newsletter events process`); an erasure redacts the person's
address in every batch still kept, processed or not (`redact_raw_batches`): the `email`
field is removed (processing then links the event through its send id, whose subscriber is
gone) and any other mention becomes `[erased]`. Provider error texts that may quote an
address (a rejected recipient) are redacted the same way.

Candidates are found in SQL by the exact bytes of each form of the address (as sent, and
JSON-escaped), so an erasure never reads every stored batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, text, update

from newsletter.storage.sending_tables import (
    campaigns,
    deliveries,
    provider_events,
    send_attempts,
    send_batches,
    webhook_inbox,
)

REDACTED = "[erased]"
#: (table, column) of free text that may quote an address from a provider's answer.
TEXT_COLUMNS = (
    (send_attempts, "detail"),
    (send_batches, "last_error"),
    (deliveries, "last_error"),
    (deliveries, "drop_reason"),
    (campaigns, "pause_reason"),
    (provider_events, "reason"),
)


def purge_raw_batches(conn: Connection, *, now: datetime, retention_days: float) -> int:
    """Delete raw batches processed more than `retention_days` ago; returns how many."""
    cutoff = now - timedelta(days=retention_days)
    result = conn.execute(
        delete(webhook_inbox).where(
            webhook_inbox.c.processed_at.is_not(None), webhook_inbox.c.processed_at < cutoff
        )
    )
    return result.rowcount or 0


def needles(forms: Iterable[str]) -> list[str]:
    """The strings an address may appear as in stored JSON: as is, and JSON-escaped."""
    found: list[str] = []
    for form in forms:
        for variant in (form, json.dumps(form)[1:-1]):
            if variant and variant not in found:
                found.append(variant)
    return found


def _contains(conn: Connection, column: str, needle: str, *, binary: bool) -> Any:
    if conn.dialect.name == "postgresql":
        if binary:
            return text(f"position(CAST(:n AS bytea) IN {column}) > 0").bindparams(
                n=needle.encode()
            )
        return text(f"strpos({column}, :n) > 0").bindparams(n=needle)
    value = needle.encode() if binary else needle
    return text(f"instr({column}, :n) > 0").bindparams(n=value)


def redact_raw_batches(conn: Connection, forms: Iterable[str]) -> int:
    """Redact the address in every kept raw batch that mentions it; returns how many."""
    search = needles(forms)
    if not search:
        return 0
    ids: set[int] = set()
    for needle in search:
        condition = _contains(conn, "raw_body", needle, binary=True)
        ids.update(conn.scalars(select(webhook_inbox.c.id).where(condition)))
    lowered = [n.lower() for n in search]
    for inbox_id in sorted(ids):
        raw: bytes = conn.execute(
            select(webhook_inbox.c.raw_body).where(webhook_inbox.c.id == inbox_id)
        ).scalar_one()
        conn.execute(
            update(webhook_inbox)
            .where(webhook_inbox.c.id == inbox_id)
            .values(raw_body=_redacted_body(raw, search, lowered))
        )
    return len(ids)


def _redacted_body(raw: bytes, search: list[str], lowered: list[str]) -> bytes:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        text_body = raw.decode("utf-8", "replace")
        for needle in search:
            text_body = text_body.replace(needle, REDACTED)
        return text_body.encode()
    return json.dumps(_redact(data, search, lowered), separators=(",", ":")).encode()


def _redact(value: Any, search: list[str], lowered: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "email" and isinstance(item, str) and _mentions(item, lowered):
                continue  # the event then reaches its delivery only through the send id
            out[key] = _redact(item, search, lowered)
        return out
    if isinstance(value, list):
        return [_redact(item, search, lowered) for item in value]
    if isinstance(value, str) and _mentions(value, lowered):
        for needle in search:
            value = _replace_folded(value, needle)
        return value
    return value


def _mentions(value: str, lowered: list[str]) -> bool:
    folded = value.lower()
    return any(needle in folded for needle in lowered)


def _replace_folded(value: str, needle: str) -> str:
    """Replace `needle` in `value` whatever the case of the occurrence."""
    folded, target = value.lower(), needle.lower()
    out, start = [], 0
    while (at := folded.find(target, start)) >= 0:
        out.append(value[start:at] + REDACTED)
        start = at + len(target)
    return "".join(out) + value[start:]


def redact_text_columns(conn: Connection, forms: Iterable[str]) -> int:
    """Replace the address in provider error texts; returns the rows changed."""
    changed = 0
    for needle in needles(forms):
        for table, name in TEXT_COLUMNS:
            column = table.c[name]
            condition = _contains(conn, name, needle, binary=False)
            result = conn.execute(
                update(table)
                .where(column.is_not(None), condition)
                .values({name: _sql_replace(conn, column, needle)})
            )
            changed += result.rowcount or 0
    return changed


def _sql_replace(conn: Connection, column: Any, needle: str) -> Any:
    from sqlalchemy import func, literal

    return func.replace(column, literal(needle), literal(REDACTED))
