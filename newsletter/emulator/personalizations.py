"""Validation of `personalizations` (V1–V6, V9–V10, V17–V23): the hot loop, kept lean."""

from __future__ import annotations

import re
from typing import Any

from newsletter.emulator.config import EmulatorConfig
from newsletter.emulator.rules import (
    EMAIL_RE,
    M_DUPLICATE,
    M_FROM_INVALID,
    M_INVALID_ADDRESS,
    M_PERSONALIZATIONS_REQUIRED,
    M_SUBJECT_STRING,
    M_SUBS_TYPE,
    M_TO_REQUIRED,
    M_TOO_MANY_PERSONALIZATIONS,
    M_TOO_MANY_RECIPIENTS,
    M_UNIQUE,
    MAX_PERSONALIZATIONS,
    MAX_RECIPIENTS,
    Error,
    check_address_obj,
    check_custom_args,
    check_headers,
    check_send_at,
    headers_fast_ok,
    only_strings,
    strings_size,
    within,
)


def _recipient_errors(
    p: dict, base: str, reject: re.Pattern[str] | None, errors: list[Error]
) -> int:
    """Checks to/cc/bcc of one personalization (V4–V6); returns its recipient count."""
    err = errors.append
    to = p.get("to")
    if not isinstance(to, list) or not to:
        err((f"{base}.to", M_TO_REQUIRED))
    seen: set[str] = set()
    dup: str | None = None
    count = 0
    for kind in ("to", "cc", "bcc"):
        lst = p.get(kind)
        if lst is None or (kind == "to" and not isinstance(lst, list)):
            continue
        if not isinstance(lst, list) or not lst:
            err((f"{base}.{kind}", f"The {kind} field must be an array with at least one address."))
            continue
        count += len(lst)
        for j, r in enumerate(lst):
            email = r.get("email") if isinstance(r, dict) else None
            if (
                not isinstance(email, str)
                or EMAIL_RE.match(email) is None
                or (reject is not None and reject.search(email) is not None)
            ):
                err((f"{base}.{kind}.{j}.email", M_INVALID_ADDRESS))
                continue
            name = r.get("name")
            if name is not None and (not isinstance(name, str) or ";" in name or "," in name):
                err((f"{base}.{kind}.{j}.name", "The name may not contain ';' or ','."))
            low = email.lower()
            if low in seen and dup is None:
                dup = f"{M_DUPLICATE} [{email}] in the {base}.{kind} field."
            seen.add(low)
    if dup is not None:
        err((base, M_UNIQUE + dup))
    return count


def check_personalizations(
    pers: Any,
    body: dict,
    cfg: EmulatorConfig,
    now: float,
    reject: re.Pattern[str] | None,
    errors: list[Error],
) -> None:
    """V1–V6, V9–V10, V17–V23 for `personalizations` (appends to `errors`).

    The common shape — one valid `to`, headers, substitutions, custom_args — takes a fast
    path; field names are only formatted when there is an error to report.
    """
    err = errors.append
    if not isinstance(pers, list) or not pers:
        err(("personalizations", M_PERSONALIZATIONS_REQUIRED))
        return
    if len(pers) > MAX_PERSONALIZATIONS:
        err(("personalizations", M_TOO_MANY_PERSONALIZATIONS))
    recipients_error_at = len(errors)
    total = 0
    top_args = body.get("custom_args")
    top_size = strings_size(top_args) if isinstance(top_args, dict) else 0
    max_keys, max_sub_bytes = cfg.substitutions_max_keys, cfg.substitutions_max_bytes
    max_args = cfg.custom_args_max_bytes
    match = EMAIL_RE.match
    for i, p in enumerate(pers):
        if not isinstance(p, dict):
            err((f"personalizations.{i}", "Each personalization must be an object."))
            continue
        to = p.get("to")
        if (
            type(to) is list
            and len(to) == 1
            and "cc" not in p
            and "bcc" not in p
            and type(to[0]) is dict
            and len(to[0]) == 1
            and type(email := to[0].get("email")) is str
            and match(email) is not None
            and (reject is None or reject.search(email) is None)
        ):
            total += 1  # fast path: a single valid `to` address and nothing else
        else:
            total += _recipient_errors(p, f"personalizations.{i}", reject, errors)
        if len(p) == 1:
            continue
        if "subject" in p and (not isinstance(p["subject"], str) or not p["subject"]):
            err((f"personalizations.{i}.subject", M_SUBJECT_STRING))
        if "from" in p:
            check_address_obj(p["from"], f"personalizations.{i}.from", errors, M_FROM_INVALID)
        headers = p.get("headers")
        if headers is not None and not headers_fast_ok(headers):
            check_headers(headers, f"personalizations.{i}.headers", errors)
        subs = p.get("substitutions")
        if subs is not None:
            if type(subs) is not dict or not only_strings(subs.values()):
                err((f"personalizations.{i}.substitutions", M_SUBS_TYPE))
            elif len(subs) > max_keys:
                err((f"personalizations.{i}.substitutions", f"At most {max_keys} substitutions."))
            elif not within(subs, max_sub_bytes):
                err((f"personalizations.{i}.substitutions", f"Over {max_sub_bytes} bytes."))
        args = p.get("custom_args")
        if args is not None:
            if type(args) is dict and args and only_strings(args.values()):
                if not within({**(top_args or {}), **args} if top_size else args, max_args):
                    err(
                        (
                            f"personalizations.{i}.custom_args",
                            f"Merged custom_args exceed {max_args} bytes.",
                        )
                    )
            else:
                check_custom_args(args, f"personalizations.{i}.custom_args", errors)
        if "send_at" in p:
            check_send_at(p["send_at"], f"personalizations.{i}.send_at", now, errors)
        dtd = p.get("dynamic_template_data")
        if dtd is not None and not isinstance(dtd, dict):
            err((f"personalizations.{i}.dynamic_template_data", "Must be an object."))
    if total > MAX_RECIPIENTS:
        errors.insert(recipients_error_at, ("personalizations", M_TOO_MANY_RECIPIENTS))
