"""Machine or person: the rules that tell link scanners and prefetchers from people, and what
one delivery's hits count for (pure; time is passed in, docs/tracking.md).

Security gateways (Microsoft Defender Safe Links, Mimecast, Proofpoint, Barracuda) follow
every link of an email when it is delivered, from cloud addresses and with browser user
agents, so the user agent alone cannot tell. A hit is a machine's when any rule says so:

1. `request`: the request said so itself: a prefetch or preview header, or a user agent
   that is no person's browser or mail app (`user_agents.agent`);
2. `honeypot`: the hidden honeypot link was followed, and so is every hit of that email
   within `HONEYPOT_WINDOW_S` of it (a person cannot see that link);
3. `burst`: several different links of one email within `BURST_WINDOW_S`: `BURST_LINKS`
   (3), or 2 in an email that has only 2 links (`burst_links`);
4. `too_soon`: within `TOO_SOON_S` of the delivery's `delivered_at` (its `accepted_at` when
   no delivery event came).

5. `flood`: a delivery that already has `FLOOD_HITS` recorded hits (no person clicks one
   email that often; it also keeps the work per click bounded when one link is hammered).

HEAD requests are answered and never recorded. Rules 2 and 3 look at the delivery's other
hits, so a later hit can turn earlier ones into a machine's: `classify` is run on the whole
history and `counts` says what the history counts for, so callers apply differences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

TOO_SOON_S = 120
BURST_WINDOW_S = 10
BURST_LINKS = 3
HONEYPOT_WINDOW_S = 60
FLOOD_HITS = 50
HONEYPOT = "honeypot"
_PREFETCH_HEADERS = {
    "purpose": ("prefetch", "preview"),
    "sec-purpose": ("prefetch", "prerender"),
    "x-purpose": ("prefetch", "preview"),
    "x-moz": ("prefetch",),
}
PREFETCH_HEADER_NAMES = frozenset(name.encode() for name in _PREFETCH_HEADERS)


def prefetch_header(headers: Mapping[str, str]) -> bool:
    """True when the browser or a mail client says this request is a prefetch or preview."""
    for name, values in _PREFETCH_HEADERS.items():
        value = headers.get(name, "").lower()
        if value and any(v in value for v in values):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Hit:
    """One recorded request for one delivery: a click (`link_key`) or an open (None)."""

    at: datetime
    link_key: str | None
    link_kind: str | None  # consultation, article, other, honeypot; None for an open
    request_reason: str | None  # what the request itself showed (prefetch, user agent)

    @property
    def is_click(self) -> bool:
        return self.link_key is not None


def burst_links(links_in_email: int) -> int:
    """How many different links within seconds make a burst, for an email with this many."""
    return max(2, min(BURST_LINKS, links_in_email))


def classify(
    hits: Sequence[Hit],
    *,
    delivered_at: datetime | None,
    accepted_at: datetime | None,
    burst: int = BURST_LINKS,
) -> list[str | None]:
    """For each hit, None for a person or the first rule (numbered above) that says machine."""
    reasons: list[str | None] = [h.request_reason for h in hits]
    honeypots = [h.at for h in hits if h.link_kind == HONEYPOT]
    window = timedelta(seconds=HONEYPOT_WINDOW_S)
    for i, hit in enumerate(hits):
        if reasons[i] is None and any(abs(hit.at - t) <= window for t in honeypots):
            reasons[i] = "honeypot"
    for i in _in_bursts(hits, burst):
        reasons[i] = reasons[i] or "burst"
    reference = delivered_at or accepted_at
    if reference is not None:
        limit = reference + timedelta(seconds=TOO_SOON_S)
        for i, hit in enumerate(hits):
            if reasons[i] is None and hit.at <= limit:
                reasons[i] = "too_soon"
    return reasons


def _in_bursts(hits: Sequence[Hit], burst: int) -> set[int]:
    """Indexes of clicks inside any window of BURST_WINDOW_S holding ≥ `burst` links."""
    clicks = sorted((h.at, i, h.link_key) for i, h in enumerate(hits) if h.is_click)
    window, marked = timedelta(seconds=BURST_WINDOW_S), set[int]()
    start = 0
    for end in range(len(clicks)):
        while clicks[end][0] - clicks[start][0] > window:
            start += 1
        if len({key for _, _, key in clicks[start : end + 1]}) >= burst:
            marked.update(i for _, i, _ in clicks[start : end + 1])
    return marked


def hour_scope(at: datetime) -> str:
    """The timeline bucket of a moment: `h:2026-11-27T12` (UTC)."""
    return "h:" + at.isoformat()[:13]


Key = tuple[str, str]  # (scope, counter name): scope '' = campaign, L1… = link, h:… = hour


def counts(hits: Sequence[Hit], reasons: Sequence[str | None]) -> Counter[Key]:
    """What one delivery's classified hits add to the campaign's counters.

    Unique counts (`*_clickers`, `human_openers`) are 0 or 1 per delivery, so a delivery's
    before/after difference keeps them exact when a hit is reclassified.
    """
    out: Counter[Key] = Counter()
    human_links: set[str] = set()
    for hit, reason in zip(hits, reasons, strict=True):
        hour = hour_scope(hit.at)
        if hit.link_key is None:
            name = "machine_opens" if reason else "human_opens"
            out["", name] += 1
            out[hour, name] += 1
            if reason is None:
                out["", "human_openers"] = 1
            continue
        name = "machine_clicks" if reason else "human_clicks"
        out["", name] += 1
        out[hit.link_key, name] += 1
        out[hour, name] += 1
        if reason is None:
            human_links.add(hit.link_key)
            out["", "human_clickers"] = 1
            if hit.link_kind == "consultation":
                out["", "consultation_clickers"] = 1
    for key in human_links:
        out[key, "human_clickers"] = 1
    return out
