"""Booked consultations: `POST /api/v1/conversions` (bearer key) and `POST /webhooks/calendly`
(Calendly's signed `invitee.created`). Thin: checks, then `engagement.conversions`.

API answers (JSON, `Cache-Control: no-store`): 503 when the key is not configured, 401 for a
missing or wrong key (compared in constant time), 413 over 64 KB, 400 for a body that is not
JSON, 422 naming the field for anything not allowed (`{"error", "field"}`), else 201 for a
new booking or 200 for one reported before, with `{"conversion_id", "attributed",
"campaign_id", "link"}`.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.engagement import calendly
from newsletter.engagement.attribution import Booking, BookingRefused, parse_booking
from newsletter.engagement.conversions import record_booking
from newsletter.web.public import now_of

log = logging.getLogger(__name__)
router = APIRouter()

MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


def _json(status: int, body: dict[str, Any], **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **headers})


async def _body(request: Request) -> bytes | None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


async def _record(request: Request, booking: Booking, source: str) -> Any:
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(
        record_booking,
        request.app.state.db,
        booking,
        key=settings.secret_key.get_secret_value(),  # type: ignore[union-attr]  # set once loaded
        source=source,
        window_days=settings.attribution_days,
        now=now_of(request.app),
    )


@router.post("/api/v1/conversions")
async def conversion(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if settings.conversions_api_key is None:
        return _json(
            503, {"error": "conversions are not configured: set NEWSLETTER_CONVERSIONS_API_KEY"}
        )
    expected = f"Bearer {settings.conversions_api_key.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode("latin-1", "replace")
    if not hmac.compare_digest(given, expected):
        return _json(401, {"error": "missing or wrong API key"}, **{"WWW-Authenticate": "Bearer"})
    raw = await _body(request)
    if raw is None:
        return _json(413, {"error": f"body larger than {MAX_BODY} bytes"})
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _json(400, {"error": "the body is not JSON"})
    try:
        booking = parse_booking(data)
    except BookingRefused as refused:
        return _json(422, {"error": refused.message, "field": refused.field})
    recorded = await _record(request, booking, "api")
    return _json(201 if recorded.created else 200, recorded.as_dict())


@router.post("/webhooks/calendly")
async def calendly_webhook(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if settings.calendly_signing_key is None:
        return _json(
            503, {"error": "Calendly is not configured: set NEWSLETTER_CALENDLY_SIGNING_KEY"}
        )
    raw = await _body(request)
    if raw is None:
        return _json(413, {"error": f"body larger than {MAX_BODY} bytes"})
    key = settings.calendly_signing_key.get_secret_value()
    header = request.headers.get(calendly.SIGNATURE_HEADER)
    if not calendly.verify(key, header, raw, now=request.app.state.clock()):
        log.warning("calendly webhook rejected: signature missing, invalid or stale")
        return _json(403, {"error": "signature missing, invalid or stale"})
    try:
        booking = calendly.booking_from(raw)
    except BookingRefused as refused:
        return _json(400, {"error": refused.message, "field": refused.field})
    finally:
        del raw  # never stored, never logged: it holds names, emails and answers
    if booking is None:
        return _json(200, {"ignored": True})
    recorded = await _record(request, booking, "calendly")
    return _json(200, recorded.as_dict())
