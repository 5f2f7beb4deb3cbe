"""Named crash points for the torture tests: `NEWSLETTER_FAILPOINTS=after_claim:p=0.05,…`.

At a named point, with the given probability, the process dies on the spot with
`os._exit(137)` — as close to SIGKILL as Python gets: no cleanup, no flush, no rollback.
Unset in production, where `failpoint()` is a dictionary lookup that finds nothing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

ENV = "NEWSLETTER_FAILPOINTS"
POINTS = (
    "after_claim",
    "before_request",
    "after_api_before_commit",
    "after_commit",
    "mid_planning",
    "after_campaign_cas",
    "after_inbox_insert",
)


def _parse(spec: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, rest = item.partition(":")
        probability = float(rest.removeprefix("p=")) if rest else 1.0
        if name not in POINTS:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(POINTS)}")
        points[name] = probability
    return points


class SimulatedCrash(BaseException):
    """Raised instead of exiting by in-process torture tests: escapes every `except
    Exception`, and unwinding rolls back any open transaction as a killed process would."""


def _exit() -> None:
    os._exit(137)


_active = _parse(os.environ.get(ENV, ""))
_rng = random.Random(os.environ.get(ENV + "_SEED"))
_action: Callable[[], None] = _exit


def configure(spec: str, *, seed: int | None = None, crash: Callable[[], None] = _exit) -> None:
    """Set the active failpoints (tests); `crash` replaces the process exit."""
    global _active, _rng, _action
    _active, _rng, _action = _parse(spec), random.Random(seed), crash


def raise_crash() -> None:
    raise SimulatedCrash


def failpoint(name: str) -> None:
    probability = _active.get(name)
    if probability and _rng.random() < probability:
        _action()
