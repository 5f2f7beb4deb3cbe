"""The accepted-requests log: append-only, fsynced JSONL, the ground truth of what went out.

One line per accepted (non-sandbox) request, written and fsynced *before* the 202 is sent:

    {"v": 1, "seq": 7, "x_message_id": "…22 chars…", "time": 1764230000.123,
     "key": "<sha256(api key)[:12]>", "body_bytes": 12345, "body_sha256": "…",
     "recipients": 1000,
     "template": {<the request without personalizations: from, reply_to, subject, content,
                  headers, categories, custom_args, tracking_settings, mail_settings, …>},
     "personalizations": [{<the personalization as sent: to, cc, bcc, subject, headers,
                           substitutions, custom_args, send_at>,
                           "sg_message_ids": ["<xmid>.emulator-<p>-<r>.0", …]}, …]}

Templates are stored once per request, so the log grows by roughly the size of the request
body. Attachment contents are replaced by their size and SHA-256. With `full_bodies` each
personalization also gets `"rendered": {"subject", "text", "html"}`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from newsletter.emulator.substitutions import apply_substitutions


def encode_line(record: dict) -> bytes:
    """One compact JSON line (UTF-8). Lone surrogates, which UTF-8 cannot carry, fall back to
    ASCII escapes."""
    try:
        return orjson.dumps(record) + b"\n"
    except orjson.JSONEncodeError:
        return json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n"


def sg_message_id(x_message_id: str, p: int, r: int) -> str:
    return f"{x_message_id}.emulator-{p}-{r}.0"


def recipients_of(personalization: dict) -> list[tuple[str, str]]:
    """(kind, email) in SendGrid order: to, then cc, then bcc (the `r` of sg_message_id)."""
    out: list[tuple[str, str]] = []
    for kind in ("to", "cc", "bcc"):
        for rcpt in personalization.get(kind) or ():
            out.append((kind, rcpt["email"]))
    return out


def _template_of(body: dict) -> dict:
    template = {k: v for k, v in body.items() if k != "personalizations"}
    atts = template.get("attachments")
    if isinstance(atts, list):
        template["attachments"] = [
            {
                **{k: v for k, v in a.items() if k != "content"},
                "content_bytes": len(a.get("content", "")),
                "content_sha256": hashlib.sha256(a.get("content", "").encode()).hexdigest(),
            }
            for a in atts
        ]
    return template


def render(template: dict, personalization: dict) -> dict[str, Any]:
    """The final subject, text, html and reply_to of one personalization (substitutions
    apply to those, not to headers or custom_args)."""
    subs = personalization.get("substitutions") or {}
    subject = personalization.get("subject", template.get("subject", ""))
    text = html = None
    for part in template.get("content") or ():
        ctype = str(part.get("type", "")).lower()
        if ctype == "text/plain" and text is None:
            text = apply_substitutions(part.get("value", ""), subs)
        elif ctype == "text/html" and html is None:
            html = apply_substitutions(part.get("value", ""), subs)
    reply_to = template.get("reply_to")
    if isinstance(reply_to, dict) and subs:
        reply_to = {k: apply_substitutions(v, subs) if isinstance(v, str) else v
                    for k, v in reply_to.items()}  # fmt: skip
    return {
        "subject": apply_substitutions(subject, subs),
        "text": text,
        "html": html,
        "reply_to": reply_to,
    }


def build_record(
    seq: int,
    x_message_id: str,
    now: float,
    key_fingerprint: str,
    raw: bytes,
    body: dict,
    full_bodies: bool = False,
) -> tuple[dict, int]:
    """The log record of an accepted request and its recipient count."""
    template = _template_of(body)
    pers_out = []
    total = 0
    for p_index, pers in enumerate(body["personalizations"]):
        n = len(pers.get("to") or ()) + len(pers.get("cc") or ()) + len(pers.get("bcc") or ())
        total += n
        entry = dict(pers)
        prefix = f"{x_message_id}.emulator-{p_index}-"
        entry["sg_message_ids"] = (
            [f"{prefix}0.0"] if n == 1 else [f"{prefix}{r}.0" for r in range(n)]
        )
        if full_bodies:
            entry["rendered"] = render(template, pers)
        pers_out.append(entry)
    record = {
        "v": 1,
        "seq": seq,
        "x_message_id": x_message_id,
        "time": round(now, 3),
        "key": key_fingerprint,
        "body_bytes": len(raw),
        "body_sha256": hashlib.sha256(raw).hexdigest(),
        "recipients": total,
        "template": template,
        "personalizations": pers_out,
    }
    return record, total


class MessageLog:
    """Appends records to a JSONL file, one fsync per record (thread-safe)."""

    def __init__(self, path: Path | str, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")  # noqa: SIM115  (closed in close())

    def append(self, record: dict) -> None:
        line = encode_line(record)
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())

    def truncate(self) -> None:
        with self._lock:
            self._file.truncate(0)
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def records(self) -> Iterator[dict]:
        return read_log(self.path)

    def messages_to(self, address: str) -> list[dict[str, Any]]:
        return messages_to(self.path, address)


def read_log(path: Path | str) -> Iterator[dict]:
    """Every complete record of a log file (a torn last line, if any, is skipped)."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield orjson.loads(line)


def iter_recipients(path: Path | str) -> Iterator[dict[str, Any]]:
    """One dict per accepted recipient: email, kind, sg_message_id, x_message_id, custom_args
    (merged, personalization wins), seq and time. For invariant checks (I1–I3)."""
    for rec in read_log(path):
        top_args = rec["template"].get("custom_args") or {}
        for pers in rec["personalizations"]:
            args = {**top_args, **(pers.get("custom_args") or {})}
            for (kind, email), smid in zip(
                recipients_of(pers), pers["sg_message_ids"], strict=True
            ):
                yield {
                    "email": email,
                    "kind": kind,
                    "sg_message_id": smid,
                    "x_message_id": rec["x_message_id"],
                    "custom_args": args,
                    "seq": rec["seq"],
                    "time": rec["time"],
                }


def messages_to(path: Path | str, address: str) -> list[dict[str, Any]]:
    """Every message accepted for `address` (case-insensitive), oldest first, as the recipient
    would get it: subject, text and html with substitutions applied, plus headers, from,
    reply_to, custom_args and ids."""
    wanted = address.lower()
    needle = json.dumps(wanted, ensure_ascii=False)[1:-1].encode("utf-8")
    out: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n") or needle not in line.lower():
                continue
            rec = orjson.loads(line)
            tpl = rec["template"]
            for pers in rec["personalizations"]:
                for (kind, email), smid in zip(
                    recipients_of(pers), pers["sg_message_ids"], strict=True
                ):
                    if email.lower() != wanted:
                        continue
                    rendered = pers.get("rendered") or render(tpl, pers)
                    out.append(
                        {
                            "email": email,
                            "kind": kind,
                            "x_message_id": rec["x_message_id"],
                            "sg_message_id": smid,
                            "time": rec["time"],
                            **rendered,
                            "from": pers.get("from", tpl.get("from")),
                            "headers": {
                                **(tpl.get("headers") or {}),
                                **(pers.get("headers") or {}),
                            },
                            "custom_args": {
                                **(tpl.get("custom_args") or {}),
                                **(pers.get("custom_args") or {}),
                            },
                            "categories": tpl.get("categories") or [],
                            "send_at": pers.get("send_at", tpl.get("send_at")),
                            "to": [r["email"] for r in pers.get("to") or ()],
                            "cc": [r["email"] for r in pers.get("cc") or ()],
                        }
                    )
    return out
