"""The server's logging: the access log without link tokens, the product's own lines.

Unsubscribe (`/u/`), click (`/r/`), preview or preferences (`/p/`) and confirmation
(`/confirm/`) URLs carry a token that acts for one person: whoever reads the log could
unsubscribe them or tie their clicks together. The access log keeps the route and cuts the
token: `GET /u/…` (the last 4 characters stay, enough to match a support request). Clicks
and opens (`/r/`, `/o/`) are not logged at all: each is a click row already, and a log line
per click would cost the redirect a fifth of its time in a send's first minutes.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_TOKEN_PATH = re.compile(r"^(?P<route>/(?:u|r|p|o|confirm)/)(?P<rest>[^?\s]*)")
_NOT_LOGGED = ("/r/", "/o/")


def cut_tokens(path: str) -> str:
    """`/u/a1b2…xyz` → `/u/…wxyz`; `/r/LINK/TOKEN` → `/r/…OKEN`; a query string is dropped."""
    match = _TOKEN_PATH.match(path)
    if match is None:
        return path
    rest = match["rest"]
    return f"{match['route']}…{rest[-4:]}" if rest else match["route"]


class TokenFilter(logging.Filter):
    """Rewrites uvicorn's access records: (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            if args[2].startswith(_NOT_LOGGED):
                return False
            record.args = (*args[:2], cut_tokens(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with the token filter on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["cut_tokens"] = {"()": TokenFilter}
    config["handlers"]["access"]["filters"] = ["cut_tokens"]
    # The product's own log lines (webhook refusals, client aborts) beside uvicorn's.
    config["loggers"]["newsletter"] = {"handlers": ["default"], "level": "INFO",
                                       "propagate": False}  # fmt: skip
    return config
