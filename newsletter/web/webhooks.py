"""`POST /webhooks/sendgrid`: SendGrid's signed Event Webhook (docs/sendgrid.md §6–7).

Order of checks, each answering before any more work is done:

1. no verification key configured → 503 (SendGrid retries for 24 h; set the key);
2. body over 5 MB → 413, checked on Content-Length and again while streaming;
3. signature missing or invalid over `timestamp + raw bytes` → 403, nothing stored;
4. signed timestamp older than `webhook_max_age_s` or further ahead than
   `webhook_max_future_s` → 403 (counted in `app.state.webhook_stats`);
5. body not a JSON array → 400, nothing stored (SendGrid always posts an array);
6. the raw bytes go to `webhook_inbox` in one short transaction → 200.

Processing runs after the response (a background task, `process_pending`), and again on
start-up and from `newsletter events process`, so a crash after step 6 loses nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.services.tracking import (
    MAX_BODY_BYTES,
    MalformedBatch,
    ProcessCounts,
    ingest,
    parse_batch,
    process_inbox,
)
from newsletter.storage.database import Database
from newsletter.tracking.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    is_fresh,
    verify_signature,
)
from newsletter.web.public import now_of

log = logging.getLogger(__name__)
router = APIRouter()

_NO_STORE = {"Cache-Control": "no-store"}


def _answer(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": status, "message": message, **extra}, status_code=status,
                        headers=_NO_STORE)  # fmt: skip


def _reject(request: Request, counter: str, status: int, message: str) -> JSONResponse:
    request.app.state.webhook_stats[counter] += 1
    log.warning("webhook rejected: %s (%s)", counter, status)
    return _answer(status, message)


def process_pending(app: Any) -> ProcessCounts:
    """Process every stored, unprocessed webhook batch (the background task and start-up)."""
    settings: Settings = app.state.settings
    counts = process_inbox(
        app.state.db,
        key=settings.key_ring,
        now=now_of(app),
    )
    if counts.failed_rows:
        log.error("%s webhook batch(es) failed to process; they stay queued", counts.failed_rows)
    return counts


async def _read_capped(request: Request) -> bytes | None:
    """The raw body, or None as soon as it exceeds MAX_BODY_BYTES. A client that goes away
    mid-body raises ClientDisconnect, answered once in `web.app` (one log line)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _store(db: Database, raw: bytes, app: Any) -> int:
    with db.write() as conn:
        return ingest(conn, raw, now_of(app))


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request, background: BackgroundTasks) -> JSONResponse:
    app = request.app
    settings: Settings = app.state.settings
    public_key = (settings.sendgrid_webhook_public_key or "").strip()
    if not public_key:
        return _reject(
            request,
            "not_configured",
            503,
            "event webhook verification is not configured: set "
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY to the key SendGrid shows",
        )
    raw = await _read_capped(request)
    if raw is None:
        return _reject(request, "too_large", 413, f"body larger than {MAX_BODY_BYTES} bytes")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not (signature and timestamp and verify_signature(public_key, signature, timestamp, raw)):
        return _reject(request, "bad_signature", 403, "signature missing or invalid")
    now = app.state.clock()
    if not is_fresh(timestamp, now, settings.webhook_max_future_s, settings.webhook_max_age_s):
        future = timestamp.strip().isdigit() and int(timestamp) > now
        return _reject(request, "future_timestamp" if future else "stale_timestamp", 403,
                       "signed timestamp outside the accepted window")  # fmt: skip
    try:
        events = parse_batch(raw)
    except MalformedBatch as exc:
        return _reject(request, "malformed", 400, str(exc))
    inbox_id = await run_in_threadpool(_store, app.state.db, raw, app)
    app.state.webhook_stats["accepted"] += 1
    background.add_task(process_pending, app)
    return _answer(200, "stored", inbox_id=inbox_id, events=len(events))
