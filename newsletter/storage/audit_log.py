"""The audit log (PD-7): one row per export, GDPR export, erasure and import.

Written inside the transaction of the act it records where there is one (erasure, import),
so the act and its record commit together. Never personal data: targets are opaque ids or
segment and list names, details are counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from newsletter.storage.tables import audit_log


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            occurred_at=now,
            actor=actor[:200],
            action=action,
            target=target[:200],
            detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
        )
    )


def recent(conn: Connection, limit: int = 50) -> list[Row]:
    """The newest entries first."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    return list(conn.execute(query))
