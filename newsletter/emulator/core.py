"""The emulator's state and the `POST /v3/mail/send` pipeline, independent of HTTP.

Order of checks (docs/sendgrid.md §10): auth 401/403 → injected fault → rate limit 429 →
size 413 → UTF-8/JSON 400 → credits 401 / unverified sender 403 → validation 400 (all
errors) → accept: sandbox 200, else log (fsynced) then 202 with `X-Message-Id`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from newsletter.emulator.config import EmulatorConfig
from newsletter.emulator.events import AcceptedJob, encode_event, expand, make_event
from newsletter.emulator.faults import Fault, Faults, TokenBucket
from newsletter.emulator.log import MessageLog, build_record
from newsletter.emulator.suppressions import Suppressions
from newsletter.emulator.validation import count_recipients, is_sandbox, validate
from newsletter.emulator.webhook import Signer, WebhookDispatcher

M_AUTH_REQUIRED = "authorization required"
M_GRANT_INVALID = "The provided authorization grant is invalid, expired, or revoked"
M_FORBIDDEN = "access forbidden"
M_CREDITS = "Maximum credits exceeded"
M_UNVERIFIED = (
    "The from address does not match a verified Sender Identity. Mail cannot be sent until "
    "this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/"
    "sender-identity/ to see the Sender Identity requirements"
)
STATUS_MESSAGES = {
    401: M_GRANT_INVALID, 404: "not found", 405: "method not allowed", 413: "content too large",
    429: "too many requests", 500: "internal server error", 502: "bad gateway",
    503: "service unavailable", 504: "gateway timeout",
}  # fmt: skip


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    action: str | None = None  # timeout_/reset_/trickle_after_accept, timeout_before_accept
    sleep_s: float = 0.0


def error_body(errors: list[tuple[str | None, str]]) -> bytes:
    return json.dumps(
        {"errors": [{"message": m, "field": f, "help": None} for f, m in errors]},
        separators=(",", ":"),
    ).encode("utf-8")


def error_reply(status: int, message: str, field: str | None = None, **headers: str) -> Reply:
    return Reply(
        status, {"Content-Type": "application/json", **headers}, error_body([(field, message)])
    )


def new_message_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


class Clock:
    """Wall clock plus an adjustable offset (`POST /_emulator/clock`)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset_s = offset_s

    def now(self) -> float:
        return time.time() + self.offset_s


class Emulator:
    def __init__(self, config: EmulatorConfig, log_path: str | os.PathLike[str]) -> None:
        self.config = config
        self.clock = Clock(config.clock_offset_s)
        self.log = MessageLog(os.fspath(log_path), fsync=config.fsync)
        self.suppressions = Suppressions()
        self.faults = Faults(config.seed)
        self.bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self.signer = Signer(config.signing_scalar)
        self.webhook = WebhookDispatcher(
            config.webhook_url, self.signer, config.webhook, self.faults, self.clock.now
        )
        self._lock = threading.Lock()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.credits = self.config.credits
        self.seq = 0
        self.requests: list[dict[str, Any]] = []
        self.sandbox: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = {
            "requests": 0, "accepted_requests": 0, "accepted_recipients": 0,
            "sandbox_requests": 0, "rejected_requests": 0, "rejected_by_status": {},
            "faults_injected": 0, "rate_limited": 0,
        }  # fmt: skip

    def reset(self) -> None:
        with self._lock:
            self.log.truncate()
            self.suppressions.clear()
            self.faults.clear()
            self.webhook.clear()
            self.clock.offset_s = self.config.clock_offset_s
            if self.config.rate_limit:
                self.bucket = TokenBucket(self.config.rate_limit)
            self._reset_counters()

    def close(self) -> None:
        self.webhook.close()
        self.log.close()

    # -- helpers -------------------------------------------------------------------------------
    def _note(self, reply: Reply, recipients: int = 0, **extra: Any) -> Reply:
        with self._lock:
            self.stats["requests"] += 1
            if reply.status >= 400 or reply.action == "timeout_before_accept":
                self.stats["rejected_requests"] += 1
                by = self.stats["rejected_by_status"]
                key = str(reply.status) if reply.action != "timeout_before_accept" else "timeout"
                by[key] = by.get(key, 0) + 1
            if len(self.requests) < 100_000:
                self.requests.append({"time": round(self.clock.now(), 3), "status": reply.status,
                                      "recipients": recipients, **extra})  # fmt: skip
        return reply

    def _fault_reply(self, fault: Fault) -> Reply:
        now = self.clock.now()
        if fault.status == 429:
            reset = str(
                int(now + fault.reset_in) + (0 if fault.reset_in == int(fault.reset_in) else 1)
            )
            limit = str(self.bucket.limit if self.bucket else 600)
            return error_reply(429, "too many requests", None, **{
                "X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset, "Retry-After": str(max(1, round(fault.retry_after))),
            })  # fmt: skip
        return error_reply(fault.status or 500, STATUS_MESSAGES.get(fault.status or 500, "error"))

    def _sender_verified(self, body: Any) -> bool:
        senders = self.config.verified_senders
        if not senders or not isinstance(body, dict):
            return True
        froms = [body.get("from")]
        pers = body.get("personalizations")
        if isinstance(pers, list):
            froms += [p.get("from") for p in pers if isinstance(p, dict) and "from" in p]
        for f in froms:
            email = f.get("email") if isinstance(f, dict) else None
            if isinstance(email, str):
                low = email.lower()
                if low not in senders and "@" + low.rsplit("@", 1)[-1] not in senders:
                    return False
        return True

    # -- the pipeline ---------------------------------------------------------------------------
    def mail_send(self, authorization: str | None, raw: bytes, too_large: bool = False,
                  content_encoding: str | None = None) -> Reply:  # fmt: skip
        # 2. auth
        if not authorization:
            return self._note(error_reply(401, M_AUTH_REQUIRED))
        key = authorization[7:] if authorization.startswith("Bearer ") else ""
        scopes = self.config.api_keys.get(key)
        if scopes is None:
            return self._note(error_reply(401, M_GRANT_INVALID))
        if "mail.send" not in scopes:
            return self._note(error_reply(403, M_FORBIDDEN))
        # injected faults (scripted next-N first, then random), and latency
        latency = self.faults.latency_s()
        if latency:
            time.sleep(latency)
        fault = self.faults.draw()
        if fault is not None and fault.status is not None:
            with self._lock:
                self.stats["faults_injected"] += 1
            return self._note(self._fault_reply(fault), fault=fault.status)
        if fault is not None and fault.action == "timeout_before_accept":
            with self._lock:
                self.stats["faults_injected"] += 1
            return self._note(
                Reply(503, action=fault.action, sleep_s=self.faults.plan.timeout_sleep_s)
            )
        # 3. rate limit
        rl_headers: dict[str, str] = {}
        if self.bucket is not None:
            ok, remaining, reset = self.bucket.take(self.clock.now())
            rl_headers = {
                "X-RateLimit-Limit": str(self.bucket.limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset),
            }
            if not ok:
                with self._lock:
                    self.stats["rate_limited"] += 1
                return self._note(error_reply(429, "too many requests", None, **rl_headers))
        # 4. size and encoding
        if too_large or len(raw) > self.config.body_max_bytes:
            return self._note(error_reply(413, "content too large"))
        if content_encoding and content_encoding.lower() != "identity":
            if content_encoding.lower() != "gzip" or not self.config.accept_gzip:
                return self._note(error_reply(400, "Content-Encoding is not supported."))
            import gzip
            import zlib

            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                return self._note(error_reply(400, "Invalid gzip body."))
            if len(raw) > self.config.body_max_bytes:
                return self._note(error_reply(413, "content too large"))
        # 5. decoding
        try:
            body = orjson.loads(raw)  # strict: rejects invalid UTF-8, NaN, trailing garbage
        except orjson.JSONDecodeError:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return self._note(error_reply(400, "Invalid UTF8 in request."))
            return self._note(error_reply(400, "Bad Request"))
        # 6. credits and sender identity
        sandbox = is_sandbox(body)
        if not sandbox and self.credits is not None and count_recipients(body) > self.credits:
            return self._note(error_reply(401, M_CREDITS))
        if not self._sender_verified(body):
            return self._note(error_reply(403, M_UNVERIFIED, "from"))
        # 7. validation
        errors = validate(body, self.config, self.clock.now(), self.faults.plan.reject_regex)
        if errors:
            reply = Reply(400, {"Content-Type": "application/json"}, error_body(errors))
            return self._note(reply, count_recipients(body), errors=len(errors))
        # 8. accept
        if sandbox:
            n_recipients = count_recipients(body)
            with self._lock:
                self.stats["sandbox_requests"] += 1
                self.sandbox.append({"time": self.clock.now(), "recipients": n_recipients})
            return self._note(Reply(200, rl_headers), n_recipients, sandbox=True)
        return self._accept(key, raw, body, fault, rl_headers)

    def _accept(self, key: str, raw: bytes, body: dict, fault: Fault | None,
                rl_headers: dict[str, str]) -> Reply:  # fmt: skip
        xmid = new_message_id()
        now = self.clock.now()
        n = count_recipients(body) if self.credits is not None else 0
        with self._lock:
            no_credit = self.credits is not None and n > self.credits
            if not no_credit:
                if self.credits is not None:
                    self.credits -= n
                self.seq += 1
                seq = self.seq
        if no_credit:  # another request took the last credits since the step-6 check
            return self._note(error_reply(401, M_CREDITS))
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
        record, total = build_record(
            seq, xmid, now, fingerprint, raw, body, self.config.full_bodies
        )
        self.log.append(record)  # fsynced before anyone hears "accepted"
        with self._lock:
            self.stats["accepted_requests"] += 1
            self.stats["accepted_recipients"] += total
        if self.webhook.url:
            self._queue_events(xmid, int(now), body, total)
        reply = Reply(202, {"X-Message-Id": xmid, **rl_headers})
        if fault is not None and fault.action in (
            "timeout_after_accept",
            "reset_after_accept",
            "trickle_after_accept",
        ):
            reply.action = fault.action
            reply.sleep_s = self.faults.plan.timeout_sleep_s
            with self._lock:
                self.stats["faults_injected"] += 1
        return self._note(reply, total, seq=seq, x_message_id=xmid)

    def _queue_events(self, xmid: str, now: int, body: dict, recipients: int) -> None:
        dropped: dict[tuple[int, int], str] = {}
        if any(self.suppressions.counts().values()):
            settings = body.get("mail_settings")
            for p_index, pers in enumerate(body["personalizations"]):
                r = 0
                for kind in ("to", "cc", "bcc"):
                    for rcpt in pers.get(kind) or ():
                        reason = self.suppressions.drop_reason(rcpt["email"], settings)
                        if reason:
                            dropped[(p_index, r)] = reason
                        r += 1
        job = AcceptedJob(xmid, now, body, recipients, dropped)
        self.webhook.enqueue(expand(job, self.suppressions))

    # -- injected events -----------------------------------------------------------------------
    def inject_event(self, event_type: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Queue one event for an address; unsubscribes, spam reports and bounces also update
        the suppression lists, as SendGrid does."""
        email = spec.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise ValueError("an `email` is required")
        now = int(self.clock.now())
        extra = {k: v for k, v in spec.items() if k not in ("email", "custom_args", "timestamp")}
        ts = int(spec.get("timestamp", now))
        event = make_event(event_type, email, ts, extra, spec.get("custom_args"))
        if event_type == "unsubscribe":
            self.suppressions.add("unsubscribes", email, now)
        elif event_type == "spamreport":
            self.suppressions.add("spam_reports", email, now, ip="127.0.0.1")
        elif event_type == "bounce":
            target = "blocks" if spec.get("type") == "blocked" else "bounces"
            self.suppressions.add(target, email, now, reason=str(spec.get("reason", "bounced")),
                                  status=str(spec.get("status", "5.0.0")))  # fmt: skip
        self.webhook.enqueue([encode_event(event)])
        return event

    def snapshot_stats(self) -> dict[str, Any]:
        with self._lock:
            stats = json.loads(json.dumps(self.stats))
        stats["credits_remaining"] = self.credits
        stats["suppressions"] = self.suppressions.counts()
        stats["webhook"] = {**self.webhook.stats, "pending": self.webhook.pending_count()}
        stats["log_path"] = str(self.log.path)
        stats["clock"] = self.clock.now()
        return stats
