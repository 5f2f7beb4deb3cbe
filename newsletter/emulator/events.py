"""Event Webhook events (docs/sendgrid.md §6) for accepted requests and injected events.

Outcomes per recipient: suppressed → `processed` + `dropped` (reason decided at acceptance);
scripted by address: `bounce+…@` → `processed` + `bounce` (type bounce, added to bounces),
`blocked+…@` → `processed` + `bounce` (type blocked, added to blocks), `defer+…@` →
`processed` + `deferred` + `delivered`; anyone else → `processed` + `delivered`.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from newsletter.emulator.rules import only_strings
from newsletter.emulator.suppressions import Suppressions

RESERVED_EVENT_KEYS = frozenset(
    (
        "email", "event", "timestamp", "sg_event_id", "sg_message_id", "smtp-id", "category",
        "reason", "status", "response", "attempt", "type", "ip", "tls", "pool", "useragent",
        "url", "url_offset", "asm_group_id", "bounce_classification", "sg_machine_open",
        "cert_err", "marketing_campaign_id", "marketing_campaign_name", "send_at",
    )
)  # fmt: skip


def new_event_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


@dataclass
class AcceptedJob:
    """What the dispatcher needs to emit the events of one accepted request."""

    x_message_id: str
    time: int
    body: dict
    recipients: int
    dropped: dict[tuple[int, int], str] = field(default_factory=dict)


def make_event(event: str, email: str, ts: int, extra: dict[str, Any] | None = None,
               custom_args: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    ev: dict[str, Any] = dict(custom_args) if custom_args else {}
    ev.update(extra or {})
    ev["email"] = email
    ev["event"] = event
    ev["timestamp"] = int(ts)
    ev["sg_event_id"] = new_event_id()
    return ev


def _scripted(email: str) -> str | None:
    if "+" not in email:
        return None
    local = email.split("@", 1)[0].lower()
    for prefix in ("bounce+", "blocked+", "defer+"):
        if local.startswith(prefix):
            return prefix[:-1]
    return None


_enc = json.JSONEncoder(separators=(",", ":")).encode  # ASCII escapes: always valid UTF-8

Encoded = tuple[float, bytes, str]  # (not_before_epoch, compact JSON, sg_event_id)


def encode_event(event: dict[str, Any], not_before: float = 0) -> Encoded:
    return (not_before, _enc(event).encode("utf-8"), event["sg_event_id"])


def _fragment(fields: dict[str, Any]) -> str:
    """`"k":v,` for every field: a JSON object body to splice into events."""
    if only_strings(fields.values()):
        esc = encode_basestring_ascii
        return "".join([f"{esc(k)}:{esc(v)}," for k, v in fields.items()])
    return "".join([f"{_enc(k)}:{_enc(v)}," for k, v in fields.items()])


def expand(job: AcceptedJob, suppressions: Suppressions) -> list[Encoded]:
    """The encoded events of every recipient of an accepted request.

    Events are built as JSON text directly (per-personalization parts encoded once) because
    a million-recipient run emits two million of them.
    """
    body = job.body
    xmid = job.x_message_id
    cats = body.get("categories")
    top_args = body.get("custom_args") or {}
    top_send_at = body.get("send_at")
    pool = body.get("ip_pool_name")
    head = f'"smtp-id":{_enc(f"<{xmid}@emulator.sendgrid.local>")},'
    if cats:
        head += f'"category":{_enc(cats)},'
    pool_frag = f'"pool":{_enc({"name": pool, "id": 1})},' if pool else ""
    n_ids = 2 * job.recipients
    ids = base64.urlsafe_b64encode(os.urandom(17 * n_ids)).decode("ascii")  # 22+ chars each
    k = 0
    out: list[Encoded] = []
    append = out.append
    for p_index, pers in enumerate(body["personalizations"]):
        args = {**top_args, **(pers.get("custom_args") or {})}
        for key in RESERVED_EVENT_KEYS.intersection(args):
            del args[key]
        args_frag = _fragment(args) if args else ""
        send_at = pers.get("send_at", top_send_at)
        ts = max(job.time, send_at) if isinstance(send_at, int) else job.time
        r = 0
        for kind in ("to", "cc", "bcc"):
            for rcpt in pers.get(kind) or ():
                email = rcpt["email"]
                reason = job.dropped.get((p_index, r))
                if reason is None and _scripted(email) is not None:
                    common = dict(args)
                    common["smtp-id"] = f"<{xmid}@emulator.sendgrid.local>"
                    common["sg_message_id"] = f"{xmid}.emulator-{p_index}-{r}.0"
                    if cats:
                        common["category"] = cats
                    processed = {**common, "pool": {"name": pool, "id": 1}} if pool else common
                    out.append(encode_event(make_event("processed", email, ts, processed), ts))
                    out.extend(
                        encode_event(ev, nb) for nb, ev in _outcome(email, ts, common, suppressions)
                    )
                    r += 1
                    continue
                prefix = (
                    f'{{{args_frag}{head}"sg_message_id":"{xmid}.emulator-{p_index}-{r}.0",'
                    f'"email":{encode_basestring_ascii(email)},"timestamp":{ts},'
                )
                eid = ids[k : k + 22]
                raw = f'{prefix}{pool_frag}"event":"processed","sg_event_id":"{eid}"}}'
                append((ts, raw.encode("utf-8"), eid))
                eid = ids[k + 22 : k + 44]
                k += 44
                if reason is not None:
                    raw = (f'{prefix}"event":"dropped","reason":{_enc(reason)},"status":"5.0.0",'
                           f'"sg_event_id":"{eid}"}}')  # fmt: skip
                else:
                    raw = (f'{prefix}"event":"delivered","response":"250 OK","ip":"127.0.0.1",'
                           f'"tls":1,"sg_event_id":"{eid}"}}')  # fmt: skip
                append((ts, raw.encode("utf-8"), eid))
                r += 1
    return out


def _outcome(
    email: str, ts: int, common: dict[str, Any], sup: Suppressions
) -> list[tuple[int, dict]]:
    script = _scripted(email)
    if script == "bounce":
        sup.add("bounces", email, ts, reason="550 5.1.1 The email account does not exist.",
                status="5.1.1")  # fmt: skip
        extra = {
            **common,
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1",
            "type": "bounce",
            "bounce_classification": "Invalid Address",
        }
        return [(ts, make_event("bounce", email, ts + 1, extra))]
    if script == "blocked":
        sup.add("blocks", email, ts, reason="550 5.7.1 Message blocked.", status="5.7.1")
        extra = {
            **common,
            "reason": "550 5.7.1 Message blocked.",
            "status": "5.7.1",
            "type": "blocked",
            "bounce_classification": "Reputation",
        }
        return [(ts, make_event("bounce", email, ts + 1, extra))]
    delivered = {**common, "response": "250 OK", "ip": "127.0.0.1", "tls": 1}
    if script == "defer":
        deferred = {**common, "response": "450 4.2.0 Mailbox temporarily unavailable",
                    "attempt": "1"}  # fmt: skip
        return [
            (ts, make_event("deferred", email, ts + 1, deferred)),
            (ts, make_event("delivered", email, ts + 60, delivered)),
        ]
    return [(ts, make_event("delivered", email, ts + 1, delivered))]
