"""Mail Send validation (docs/sendgrid.md §10, rules V1–V31). Pure: JSON in, errors out.

`validate` returns every error as `(field, message)` in document order: top-level keys are
checked in the order they appear in the request, then required-but-missing fields are
reported (personalizations, from, subject, content). Fields are dotted paths such as
`personalizations.1.to.0.email`. Messages marked (obs) are SendGrid's observed wording.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from newsletter.emulator.config import EmulatorConfig
from newsletter.emulator.personalizations import check_personalizations
from newsletter.emulator.rules import (
    M_CONTENT_ORDER,
    M_CONTENT_REQUIRED,
    M_CONTENT_VALUE,
    M_FROM_INVALID,
    M_FROM_REQUIRED,
    M_INVALID_ADDRESS,
    M_PERSONALIZATIONS_REQUIRED,
    M_SUBJECT_REQUIRED,
    SETTINGS_BOOL_KEYS,
    Error,
    check_address_obj,
    check_custom_args,
    check_headers,
    check_send_at,
    count_recipients,
    is_email,
    is_sandbox,
    strings_size,
)

__all__ = ["Error", "count_recipients", "is_sandbox", "validate"]


class _Validator:
    def __init__(self, config: EmulatorConfig, now: float, reject: re.Pattern[str] | None):
        self.config = config
        self.now = now
        self.reject = reject
        self.errors: list[Error] = []

    def personalizations(self, value: Any, body: dict) -> None:
        check_personalizations(value, body, self.config, self.now, self.reject, self.errors)

    def from_(self, value: Any, body: dict) -> None:
        check_address_obj(value, "from", self.errors, M_FROM_INVALID)

    def subject(self, value: Any, body: dict) -> None:
        if not isinstance(value, str) or not value:
            self.errors.append(
                ("subject", "The subject must be a string at least one character in length.")
            )

    def content(self, value: Any, body: dict) -> None:
        err = self.errors.append
        if isinstance(body.get("template_id"), str):
            return  # template content is not validated (doc)
        if not isinstance(value, list):
            err(("content", f"Invalid type. Expected: array, given: {type(value).__name__}."))
            return
        if not value:
            err(("content", M_CONTENT_REQUIRED))
            return
        rank_seen = 0
        for k, part in enumerate(value):
            if not isinstance(part, dict):
                err((f"content.{k}", "Each content block must be an object."))
                continue
            ctype = part.get("type")
            if not isinstance(ctype, str) or not ctype or any(c in ctype for c in ";\r\n"):
                err(
                    (
                        f"content.{k}.type",
                        "The content type must be a non-empty string without ';', CR or LF.",
                    )
                )
            else:
                rank = {"text/plain": 0, "text/html": 1}.get(ctype.lower(), 2)
                if rank < rank_seen:
                    err(("content", M_CONTENT_ORDER))
                rank_seen = max(rank_seen, rank)
            val = part.get("value")
            if not isinstance(val, str) or not val:
                err((f"content.{k}.value", M_CONTENT_VALUE))

    def categories(self, value: Any, body: dict) -> None:
        f, err = "categories", self.errors.append
        if not isinstance(value, list):
            err((f, "Categories must be an array of strings."))
            return
        if len(value) > 10:
            err((f, "You may not have more than 10 categories per request."))
        seen: set[str] = set()
        for c in value:
            if not isinstance(c, str):
                err((f, "Each category must be a string."))
            elif len(c) > 255 or not c.isascii():
                err((f, "A category must be at most 255 ASCII characters."))
            elif c in seen:
                err((f, f"Duplicate category {c!r}."))
            else:
                seen.add(c)

    def custom_args(self, value: Any, body: dict) -> None:
        if check_custom_args(value, "custom_args", self.errors) and (
            strings_size(value) > self.config.custom_args_max_bytes
        ):
            self.errors.append(("custom_args", "custom_args exceed the maximum size."))

    def headers(self, value: Any, body: dict) -> None:
        check_headers(value, "headers", self.errors)

    def send_at(self, value: Any, body: dict) -> None:
        check_send_at(value, "send_at", self.now, self.errors)

    def batch_id(self, value: Any, body: dict) -> None:
        if not isinstance(value, str) or not value:
            self.errors.append(("batch_id", "The batch_id must be a string."))

    def asm(self, value: Any, body: dict) -> None:
        err = self.errors.append
        if not isinstance(value, dict):
            err(("asm", "asm must be an object."))
            return
        gid = value.get("group_id")
        if not isinstance(gid, int) or isinstance(gid, bool) or gid not in self.config.asm_groups:
            err(
                (
                    "asm.group_id",
                    "The asm group_id must be the id of an existing unsubscribe group.",
                )
            )
        gtd = value.get("groups_to_display")
        if gtd is not None and (
            not isinstance(gtd, list)
            or len(gtd) > 25
            or not all(isinstance(g, int) and not isinstance(g, bool) for g in gtd)
        ):
            err(
                (
                    "asm.groups_to_display",
                    "groups_to_display must be an array of at most 25 integers.",
                )
            )

    def reply_to(self, value: Any, body: dict) -> None:
        if "reply_to_list" in body:
            self.errors.append(("reply_to", "reply_to and reply_to_list cannot both be set."))
        elif not isinstance(value, dict) or not is_email(value.get("email")):
            self.errors.append(("reply_to", "The reply_to email does not contain a valid address."))

    def reply_to_list(self, value: Any, body: dict) -> None:
        f = "reply_to_list"
        if not isinstance(value, list) or not value or len(value) > 1000:
            self.errors.append((f, "reply_to_list must be an array of 1 to 1000 addresses."))
            return
        emails = [v.get("email") if isinstance(v, dict) else None for v in value]
        if not all(is_email(e) for e in emails):
            self.errors.append((f, M_INVALID_ADDRESS))
        elif len({str(e).lower() for e in emails}) != len(emails):
            self.errors.append((f, "reply_to_list addresses must be unique."))

    def template_id(self, value: Any, body: dict) -> None:
        if not isinstance(value, str) or value not in self.config.templates:
            self.errors.append(("template_id", "The template_id must be a valid template id."))

    def _settings(self, value: Any, name: str) -> None:
        if not isinstance(value, dict):
            self.errors.append((name, f"{name} must be an object."))
            return
        for key, setting in value.items():
            if not isinstance(setting, dict):
                self.errors.append((f"{name}.{key}", "Each setting must be an object."))
                continue
            for flag in SETTINGS_BOOL_KEYS:
                if flag in setting and not isinstance(setting[flag], bool):
                    self.errors.append(
                        (f"{name}.{key}.{flag}", "The enable field must be a boolean.")
                    )

    def mail_settings(self, value: Any, body: dict) -> None:
        self._settings(value, "mail_settings")

    def tracking_settings(self, value: Any, body: dict) -> None:
        self._settings(value, "tracking_settings")

    def attachments(self, value: Any, body: dict) -> None:
        err = self.errors.append
        if not isinstance(value, list):
            err(("attachments", "attachments must be an array."))
            return
        for k, att in enumerate(value):
            base = f"attachments.{k}"
            if not isinstance(att, dict):
                err((base, "Each attachment must be an object."))
                continue
            content = att.get("content")
            try:
                if not isinstance(content, str) or not content:
                    raise ValueError
                base64.b64decode(content, validate=True)
            except (ValueError, binascii.Error):
                err((f"{base}.content", "The attachment content must be base64 encoded."))
            if not isinstance(att.get("filename"), str) or not att["filename"]:
                err((f"{base}.filename", "The attachment filename is required."))
            disp = att.get("disposition", "attachment")
            if disp not in ("attachment", "inline"):
                err((f"{base}.disposition", "disposition must be 'inline' or 'attachment'."))
            elif disp == "inline" and not att.get("content_id"):
                err((f"{base}.content_id", "content_id is required for inline attachments."))
            ctype = att.get("type")
            if ctype is not None and (
                not isinstance(ctype, str) or any(c in ctype for c in ";\r\n")
            ):
                err((f"{base}.type", "The attachment type may not contain ';', CR or LF."))

    def ip_pool_name(self, value: Any, body: dict) -> None:
        if (
            not isinstance(value, str)
            or not 2 <= len(value) <= 64
            or value not in self.config.ip_pools
        ):
            self.errors.append(("ip_pool_name", "The ip_pool_name must name an existing IP pool."))


_DISPATCH = {
    "personalizations": _Validator.personalizations,
    "from": _Validator.from_,
    "subject": _Validator.subject,
    "content": _Validator.content,
    "categories": _Validator.categories,
    "custom_args": _Validator.custom_args,
    "headers": _Validator.headers,
    "send_at": _Validator.send_at,
    "batch_id": _Validator.batch_id,
    "asm": _Validator.asm,
    "reply_to": _Validator.reply_to,
    "reply_to_list": _Validator.reply_to_list,
    "template_id": _Validator.template_id,
    "mail_settings": _Validator.mail_settings,
    "tracking_settings": _Validator.tracking_settings,
    "attachments": _Validator.attachments,
    "ip_pool_name": _Validator.ip_pool_name,
}


def validate(
    body: Any,
    config: EmulatorConfig,
    now: float,
    reject: re.Pattern[str] | None = None,
) -> list[Error]:
    """All validation errors of a decoded Mail Send body, in document order (empty = valid).

    `reject` (a fault knob) makes every recipient address it matches invalid (V5).
    """
    if not isinstance(body, dict):
        return [(None, "The request body must be a JSON object.")]
    v = _Validator(config, now, reject)
    for key, value in body.items():
        check = _DISPATCH.get(key)
        if check is not None:
            check(v, value, body)
    err = v.errors.append
    if "personalizations" not in body:
        err(("personalizations", M_PERSONALIZATIONS_REQUIRED))
    if "from" not in body:
        err(("from", M_FROM_REQUIRED))
    if "subject" not in body and not isinstance(body.get("template_id"), str):
        pers = body.get("personalizations")
        every = (
            isinstance(pers, list)
            and bool(pers)
            and all(isinstance(p, dict) and "subject" in p for p in pers)
        )
        if not every:
            err(("subject", M_SUBJECT_REQUIRED))
    if "content" not in body and not isinstance(body.get("template_id"), str):
        err(("content", M_CONTENT_REQUIRED))
    return v.errors
