"""Every route other than Mail Send: the test-only `/_emulator/*` control API and the v3
suppression and signed-webhook-settings endpoints (docs/sendgrid.md §6, §8)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from newsletter.emulator.core import (
    M_AUTH_REQUIRED,
    M_FORBIDDEN,
    M_GRANT_INVALID,
    Emulator,
    Reply,
    error_reply,
)
from newsletter.emulator.suppressions import LISTS

JSON = {"Content-Type": "application/json"}


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status, dict(JSON), orjson.dumps(data))


def _body(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8")) if raw.strip() else {}


def _auth(emu: Emulator, authorization: str | None) -> Reply | None:
    if not authorization:
        return error_reply(401, M_AUTH_REQUIRED)
    key = authorization[7:] if authorization.startswith("Bearer ") else ""
    if key not in emu.config.api_keys:
        return error_reply(401, M_GRANT_INVALID)
    if not emu.config.api_keys[key]:
        return error_reply(403, M_FORBIDDEN)
    return None


def _int(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    return int(values[0]) if values else default


# -- /_emulator ---------------------------------------------------------------------------------
def control(
    emu: Emulator, method: str, path: str, query: dict[str, list[str]], raw: bytes
) -> Reply:
    route = path[len("/_emulator/") :].rstrip("/")
    if method == "GET" and route == "stats":
        return json_reply(emu.snapshot_stats())
    if method == "GET" and route == "requests":
        offset, limit = _int(query, "offset", 0) or 0, _int(query, "limit", 1000) or 1000
        return json_reply(emu.requests[offset : offset + limit])
    if method == "GET" and route == "sandbox":
        return json_reply(emu.sandbox)
    if method == "GET" and route == "messages":
        to = (query.get("to") or [""])[0]
        if not to:
            return error_reply(400, "the `to` query parameter is required", "to")
        return json_reply(emu.log.messages_to(to))
    if method == "GET" and route == "log":
        return Reply(200, {"Content-Type": "application/x-ndjson"}, emu.log.path.read_bytes())
    if method == "POST" and route == "reset":
        emu.reset()
        return json_reply({"ok": True})
    if method == "POST" and route == "clock":
        spec = _body(raw)
        if "offset" in spec:
            emu.clock.offset_s = float(spec["offset"])
        if "advance" in spec:
            emu.clock.offset_s += float(spec["advance"])
        if "now" in spec:
            emu.clock.offset_s += float(spec["now"]) - emu.clock.now()
        return json_reply({"now": emu.clock.now(), "offset": emu.clock.offset_s})
    if method == "POST" and route == "faults":
        try:
            emu.faults.set(_body(raw))
        except (ValueError, TypeError, re.error) as exc:
            return error_reply(400, str(exc))
        return json_reply({"ok": True})
    if method == "POST" and route.startswith("events/"):
        try:
            event = emu.inject_event(route[len("events/") :], _body(raw))
        except (ValueError, TypeError) as exc:
            return error_reply(400, str(exc), "email")
        return json_reply(event, 201)
    if method == "POST" and route == "webhook/flush":
        return json_reply(emu.webhook.flush())
    if method == "POST" and route == "webhook/config":
        spec = _body(raw)
        emu.webhook.url = spec.get("url") or None
        return json_reply({"url": emu.webhook.url})
    if method == "GET" and route == "webhook/deliveries":
        return json_reply(list(emu.webhook.deliveries))
    known = {"stats", "requests", "sandbox", "messages", "log", "reset", "clock", "faults",
             "webhook/flush", "webhook/config", "webhook/deliveries"}  # fmt: skip
    if route in known or route.startswith("events/"):
        return error_reply(405, "method not allowed")
    return error_reply(404, "not found")


# -- /v3 besides mail/send -----------------------------------------------------------------------
_SUPPRESSION = re.compile(r"^/v3/suppression/(" + "|".join(LISTS) + r")(?:/([^/]+))?/?$")
_GLOBAL = re.compile(r"^/v3/asm/suppressions/global(?:/([^/]+))?/?$")
_SIGNED = re.compile(r"^/v3/user/webhooks/event/settings/signed(?:/([^/]+))?/?$")
_TEST_EVENT = "/v3/user/webhooks/event/test"


def v3(emu: Emulator, method: str, path: str, query: dict[str, list[str]], raw: bytes,
       authorization: str | None) -> Reply:  # fmt: skip
    m_sup, m_glob, m_signed = _SUPPRESSION.match(path), _GLOBAL.match(path), _SIGNED.match(path)
    test_event = path.rstrip("/") == _TEST_EVENT
    if not (m_sup or m_glob or m_signed or test_event):
        return error_reply(404, "not found")
    denied = _auth(emu, authorization)
    if denied is not None:
        return denied
    now = int(emu.clock.now())
    if test_event:
        # SendGrid posts one sample event to the configured URL: proof the feed is flowing.
        if method != "POST":
            return error_reply(405, "method not allowed")
        emu.inject_event("processed", {"email": "example@test.com"})
        return Reply(204, {}, b"")
    if m_signed:
        if method not in ("GET", "PATCH"):
            return error_reply(405, "method not allowed")
        return json_reply({"id": m_signed.group(1) or "emulator", "enabled": True,
                           "public_key": emu.signer.public_key_b64})  # fmt: skip
    if m_glob:
        email = unquote(m_glob.group(1)) if m_glob.group(1) else None
        if email is None and method == "POST":
            spec = _body(raw)
            emails = spec.get("recipient_emails") if isinstance(spec, dict) else None
            if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
                return error_reply(400, "recipient_emails must be an array of strings",
                                   "recipient_emails")  # fmt: skip
            for e in emails:
                emu.suppressions.add("unsubscribes", e, now)
            return json_reply({"recipient_emails": emails}, 201)
        if email is not None and method == "GET":
            item = emu.suppressions.get("unsubscribes", email)
            return json_reply({"recipient_email": item["email"]} if item else {})
        if email is not None and method == "DELETE":
            emu.suppressions.remove("unsubscribes", email)
            return Reply(204)
        return error_reply(405, "method not allowed")
    assert m_sup is not None
    list_name, email = m_sup.group(1), unquote(m_sup.group(2)) if m_sup.group(2) else None
    if method == "GET":
        limit = _int(query, "limit", 500)
        if limit is None or not 1 <= limit <= 500:
            return error_reply(400, "limit must be between 1 and 500", "limit")
        items = emu.suppressions.query(
            list_name,
            start_time=_int(query, "start_time", None),
            end_time=_int(query, "end_time", None),
            limit=limit,
            offset=_int(query, "offset", 0) or 0,
            email=email or (query.get("email") or [""])[0] or None,
        )
        if email is not None:
            items = [i for i in items if i["email"].lower() == email.lower()]
        return json_reply(items)
    if method == "DELETE":
        if email is not None:
            emu.suppressions.remove(list_name, email)
            return Reply(204)
        spec = _body(raw)
        if isinstance(spec, dict) and spec.get("delete_all") is True:
            emu.suppressions.clear(list_name)
        elif isinstance(spec, dict) and isinstance(spec.get("emails"), list):
            for e in spec["emails"]:
                emu.suppressions.remove(list_name, str(e))
        else:
            return error_reply(400, "delete_all or emails is required")
        return Reply(204)
    return error_reply(405, "method not allowed")


def parse_query(qs: str) -> dict[str, list[str]]:
    return parse_qs(qs, keep_blank_values=True)
