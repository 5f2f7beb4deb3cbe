"""Named crash and pause points for the torture tests: `NEWSLETTER_FAILPOINTS=after_claim:p=0.05,
before_request:p=0.02:stop=0.1,…`.

At a named point, with probability `p`, the process dies on the spot with `os._exit(137)` —
as close to SIGKILL as Python gets: no cleanup, no flush, no rollback. With probability
`stop` it stops itself with SIGSTOP (every thread, like a VM pause or a stopped container)
until someone sends SIGCONT: the torture harness does, after longer than the lease.
Unset in production, where `failpoint()` is a dictionary lookup that finds nothing.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable

ENV = "NEWSLETTER_FAILPOINTS"
POINTS = (
    "after_claim",
    "before_request",
    "after_request_check",
    "after_api_before_commit",
    "after_commit",
    "mid_planning",
    "after_campaign_cas",
    "after_inbox_insert",
)


def _parse(spec: str) -> dict[str, tuple[float, float]]:
    """name → (crash probability, stop probability)."""
    points: dict[str, tuple[float, float]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, *options = item.split(":")
        if name not in POINTS:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(POINTS)}")
        crash, stop = (1.0, 0.0) if not options else (0.0, 0.0)
        for option in options:
            key, _, value = option.partition("=")
            if key == "p":
                crash = float(value)
            elif key == "stop":
                stop = float(value)
            else:
                raise ValueError(f"failpoint {name}: unknown option {key!r}; use p= or stop=")
        points[name] = (crash, stop)
    return points


class SimulatedCrash(BaseException):
    """Raised instead of exiting by in-process torture tests: escapes every `except
    Exception`, and unwinding rolls back any open transaction as a killed process would."""


def _exit() -> None:
    os._exit(137)


def _stop() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)  # returns once someone sends SIGCONT


_active = _parse(os.environ.get(ENV, ""))
_rng = random.Random(os.environ.get(ENV + "_SEED"))
_action: Callable[[], None] = _exit
_pause: Callable[[], None] = _stop


def configure(
    spec: str,
    *,
    seed: int | None = None,
    crash: Callable[[], None] = _exit,
    pause: Callable[[], None] = _stop,
) -> None:
    """Set the active failpoints (tests); `crash` and `pause` replace exit and SIGSTOP."""
    global _active, _rng, _action, _pause
    _active, _rng, _action, _pause = _parse(spec), random.Random(seed), crash, pause


def raise_crash() -> None:
    raise SimulatedCrash


def failpoint(name: str) -> None:
    point = _active.get(name)
    if point is None:
        return
    crash, stop = point
    if crash and _rng.random() < crash:
        _action()
    if stop and _rng.random() < stop:
        _pause()
