"""What a user agent says about the client, through a maintained parser (ua-parser and its
regularly updated rules), never a hand-kept list of scanner names (pure; cached)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import ua_parser

MAX_USER_AGENT = 512


@dataclass(frozen=True, slots=True)
class Agent:
    family: str  # "Chrome", "Mobile Safari", "Googlebot", "Other": stored, never the full string
    machine: str | None  # why it is not a person's mail app or browser, else None


@lru_cache(maxsize=4096)
def agent(user_agent: str | None) -> Agent:
    """Classify a User-Agent header.

    A machine: no user agent at all; one the parser knows as a crawler or scanner (device
    family `Spider`); one it cannot name; one naming no operating system or device (HTTP
    libraries, link checkers, Office's link probe); a mail provider's image proxy.
    """
    value = (user_agent or "").strip()[:MAX_USER_AGENT]
    if not value:
        return Agent("Other", "no_user_agent")
    result = ua_parser.parse(value)
    family = (result.user_agent.family if result.user_agent else "Other")[:64]
    if result.device is not None and result.device.family == "Spider":
        return Agent(family, "bot_user_agent")
    if result.user_agent is None:
        return Agent(family, "unknown_user_agent")
    if result.os is None and result.device is None:
        return Agent(family, "not_a_browser")
    if family.endswith("Proxy"):  # GmailImageProxy, YahooMailProxy: fetches, not people
        return Agent(family, "mail_proxy")
    return Agent(family, None)
