"""Header values checked at the delivery boundary, for every backend.

Every header (From, Reply-To, Subject, List-Id, List-Unsubscribe) is built by the product,
never by a template; this is the last check before anything leaves: no CR, LF, NUL or other
control character (header injection, RFC 5322 §2.2), and lengths within what mail systems
accept. Substitution values are checked too: the subject may carry the first-name tag.

A problem of the batch itself (the subject, the sender) is answered as a 422, which pauses
the campaign with the reason (no split can help); a problem of one recipient as a 400 naming
that personalization, so the engine fails that recipient alone (`domain.sending.classify`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.domain.sending import ProviderResult

MAX_LINE = 998  # RFC 5322 §2.1.1: the longest line a header may take
MAX_ADDRESS = 254
MAX_URL = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab alone is legal folding whitespace


def value_problem(
    name: str, value: str, limit: int = MAX_LINE, *, optional: bool = False
) -> str | None:
    """Why `value` cannot be the `name` header, or None (empty is fine when `optional`: the
    header is then left out)."""
    match = _CONTROL.search(value)
    if match:
        return f"{name} contains the control character {match[0]!r} (header injection)"
    if len(value) > limit:
        return f"{name} is {len(value):,} characters (at most {limit:,})"
    if not value.strip() and not optional and name != "reply-to":
        return f"{name} is empty"
    return None


def first_problem(values: Iterable[tuple[str, str, int]], *, optional: set[str]) -> str | None:
    """The first problem among (header name, value, length limit), or None."""
    for name, value, limit in values:
        problem = value_problem(name, value, limit, optional=name in optional)
        if problem:
            return problem
    return None


def _marketing(batch: OutgoingBatch) -> bool:
    """A newsletter must carry List-Id and List-Unsubscribe (RFC 8058, bulk-sender rules); a
    transactional email (a double opt-in confirmation) carries neither."""
    return batch.category == "newsletter"


def batch_problem(batch: OutgoingBatch) -> str | None:
    optional = set() if _marketing(batch) else {"list-id"}
    return first_problem((
        ("subject", batch.subject, MAX_LINE),
        ("from name", batch.sender_name, 256),
        ("from address", batch.sender_email, MAX_ADDRESS),
        ("reply-to", batch.reply_to, MAX_ADDRESS),
        ("list-id", batch.list_id, MAX_LINE),
    ), optional=optional)  # fmt: skip


def recipient_problem(recipient: OutgoingRecipient, *, marketing: bool = True) -> str | None:
    checks = [
        ("to address", recipient.email, MAX_ADDRESS),
        ("list-unsubscribe", recipient.list_unsubscribe, MAX_URL),
        ("send id", recipient.send_id, 64),
    ]
    checks += [(f"substitution {tag}", value, MAX_LINE)
               for tag, value in recipient.substitutions.items()]  # fmt: skip
    for name, value, limit in checks:
        optional = name == "list-unsubscribe" and not marketing
        problem = value_problem(name, value, limit, optional=optional)
        if problem and not (name.startswith("substitution") and problem.endswith("is empty")):
            return problem
    return None


def refused(batch: OutgoingBatch) -> ProviderResult | None:
    """The answer for a batch that must not leave, or None when every header is sound."""
    problem = batch_problem(batch)
    if problem:
        return ProviderResult(status=422, body=f"refused before sending: {problem}")
    errors = []
    for index, recipient in enumerate(batch.recipients):
        problem = recipient_problem(recipient, marketing=_marketing(batch))
        if problem:
            errors.append({"field": f"personalizations.{index}.headers", "message": problem})
    if errors:
        return ProviderResult(status=400, body=json.dumps({"errors": errors}))
    return None
