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
    M_TO_REQUIRED,
    M_TOO_MANY_RECIPIENTS,
    M_UNIQUE,
    MAX_PERSONALIZATIONS,
    MAX_RECIPIENTS,
    Error,
    check_address_obj,
    check_custom_args,
    check_headers,
    check_send_at,
    count_recipients,
    strings_size,
)


def check_personalizations(
    pers: Any,
    body: dict,
    cfg: EmulatorConfig,
    now: float,
    reject: re.Pattern[str] | None,
    errors: list[Error],
) -> None:
    """V1–V6, V9–V10, V17–V23 for `personalizations` (appends to `errors`)."""
    err = errors.append
    if not isinstance(pers, list) or not pers:
        err(("personalizations", M_PERSONALIZATIONS_REQUIRED))
        return
    if len(pers) > MAX_PERSONALIZATIONS:
        err(
            (
                "personalizations",
                "You may not have more than 1000 personalizations per API request.",
            )
        )
    if count_recipients(body) > MAX_RECIPIENTS:
        err(
            (
                "personalizations",
                M_TOO_MANY_RECIPIENTS,
            )
        )
    top_args = body.get("custom_args")
    top_size = strings_size(top_args) if isinstance(top_args, dict) else 0
    for i, p in enumerate(pers):
        base = f"personalizations.{i}"
        if not isinstance(p, dict):
            err((base, "Each personalization must be an object."))
            continue
        to = p.get("to")
        if not isinstance(to, list) or not to:
            err((f"{base}.to", M_TO_REQUIRED))
        seen: set[str] = set()
        dup: str | None = None
        for kind in ("to", "cc", "bcc"):
            lst = p.get(kind)
            if lst is None or (kind == "to" and not isinstance(lst, list)):
                continue
            if not isinstance(lst, list) or not lst:
                err(
                    (
                        f"{base}.{kind}",
                        f"The {kind} field must be an array with at least one email object.",
                    )
                )
                continue
            for j, r in enumerate(lst):
                email = r.get("email") if isinstance(r, dict) else None
                if (
                    email is None
                    or not isinstance(email, str)
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
            err(
                (
                    base,
                    M_UNIQUE + dup,
                )
            )
        if len(p) == 1:
            continue  # only `to`: the common fast path for plain batches
        if "subject" in p and (not isinstance(p["subject"], str) or not p["subject"]):
            err(
                (
                    f"{base}.subject",
                    "The subject must be a string at least one character in length.",
                )
            )
        if "from" in p:
            check_address_obj(p["from"], f"{base}.from", errors, M_FROM_INVALID)
        if "headers" in p:
            check_headers(p["headers"], f"{base}.headers", errors)
        subs = p.get("substitutions")
        if subs is not None:
            f = f"{base}.substitutions"
            if not isinstance(subs, dict) or not all(isinstance(v, str) for v in subs.values()):
                err((f, "Substitutions must be an object of string values."))
            elif len(subs) > cfg.substitutions_max_keys:
                err(
                    (
                        f,
                        f"At most {cfg.substitutions_max_keys} substitutions per personalization.",
                    )
                )
            elif strings_size(subs) > cfg.substitutions_max_bytes:
                err(
                    (
                        f,
                        f"Substitutions exceed {cfg.substitutions_max_bytes} bytes.",
                    )
                )
        args = p.get("custom_args")
        if args is not None:
            f = f"{base}.custom_args"
            if check_custom_args(args, f, errors):
                merged = {**top_args, **args} if top_size else args
                if strings_size(merged) > cfg.custom_args_max_bytes:
                    err(
                        (
                            f,
                            f"Merged custom_args exceed {cfg.custom_args_max_bytes} bytes.",
                        )
                    )
        if "send_at" in p:
            check_send_at(p["send_at"], f"{base}.send_at", now, errors)
        dtd = p.get("dynamic_template_data")
        if dtd is not None and not isinstance(dtd, dict):
            err((f"{base}.dynamic_template_data", "dynamic_template_data must be an object."))


# -- top-level fields ------------------------------------------------------------------
