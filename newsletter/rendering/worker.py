"""The template worker process: renders marketer-editable templates for its parent.

Why a process: one C-level operation holding the GIL cannot be interrupted from inside a
process, and signals do not reach the web app's threads. The parent (`rendering.isolated`)
kills this process when a render passes its deadline, so no template can hang or exhaust
the product; the sandbox (`rendering.sandbox`) refuses the known ways first, with a message.

Protocol over stdin/stdout: frames of a 4-byte big-endian length and a JSON body. The
worker sends `{"ready": true}` once imported, then answers each request in order:

    request  {"folder", "template", "context", "text_overrides", "limits", "soft_deadline_s"}
    answer   {"html", "text"}  or  {"error": {"message", "where", "fix"}}

Values that are `Markup` travel as `{"__markup__": "..."}`. A soft deadline (an interval
timer, shortly before the parent's hard one) stops a runaway Python loop with the template
file and line; the address-space limit turns a huge allocation into a clear error. After a
memory error the worker answers and exits, so the next render gets a fresh process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from jinja2.debug import rewrite_traceback_stack

from newsletter.errors import NewsletterError, TemplateError
from newsletter.rendering.environment import RenderOutOfMemory, render
from newsletter.rendering.mjml import compile_mjml
from newsletter.rendering.sandbox import RenderLimits
from newsletter.rendering.worker_protocol import decode, read_frame, write_frame

RECURSION_LIMIT = 400
MEMORY_HEADROOM = 1024 * 1024 * 1024  # address space a render may add to the worker's own


class _SoftDeadline(BaseException):
    """Raised by the interval timer: a BaseException, so nothing on the way catches it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _SoftDeadline


def render_pair(request: dict[str, Any]) -> dict[str, Any]:
    """Render `<template>.mjml` → MJML → HTML and `<template>.txt` → text."""
    folder, template = Path(request["folder"]), request["template"]
    limits = RenderLimits(**request.get("limits", {}))
    context = decode(request["context"])
    source = render(folder, f"{template}.mjml", context, limits=limits)
    html = compile_mjml(source, where=str(folder / f"{template}.mjml"))
    text_context = {**context, **decode(request.get("text_overrides", {}))}
    text = render(folder, f"{template}.txt", text_context, limits=limits)
    return {"html": html, "text": text}


def _answer(request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(answer, keep going?)"""
    soft = float(request.get("soft_deadline_s") or 0)
    if soft > 0:
        signal.setitimer(signal.ITIMER_REAL, soft)
    try:
        return render_pair(request), True
    except _SoftDeadline:
        where = _where(rewrite_traceback_stack(), request)  # template lines, not Python's
        error = TemplateError(
            f"the template took longer than {soft:.1f} s to render",
            where=where,
            fix="a loop or filter runs too long: simplify it (NEWSLETTER_RENDER_TIMEOUT_S)",
        )
        return _error(error), True
    except MemoryError:
        error = TemplateError(
            "the template needs more memory than a render may use",
            where=str(Path(request["folder"]) / f"{request['template']}.mjml"),
            fix="templates format the values they are given; remove what builds large data",
        )
        return _error(error), False
    except NewsletterError as exc:
        # After a memory error the process keeps what it grew: a fresh one takes over.
        return _error(exc), not isinstance(exc, RenderOutOfMemory)
    except Exception as exc:  # a bug of ours must still be a message, never a hang
        error = TemplateError(f"rendering failed: {type(exc).__name__}: {exc}",
                              where=str(request.get("folder")))  # fmt: skip
        return _error(error), True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _where(exc: BaseException, request: dict[str, Any]) -> str:
    from newsletter.rendering.environment import _template_frame

    return _template_frame(exc, Path(request["folder"])) or str(request["folder"])


def _error(error: NewsletterError) -> dict[str, Any]:
    return {"error": {"message": error.message, "where": error.where, "fix": error.fix}}


def _limit_memory() -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        own = pages * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (own + MEMORY_HEADROOM, own + MEMORY_HEADROOM))
    except (OSError, ValueError, ImportError):  # not Linux: the deadline still holds
        pass


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the protocol stream
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # The shipped templates need 52 frames at most; a self-including template costs time in
    # the square of its depth (every chunk passes every level), so runaway recursion is
    # stopped early: 400 frames fail in ~0.15 s instead of ~0.35 s at Python's 1,000.
    sys.setrecursionlimit(RECURSION_LIMIT)
    _limit_memory()
    write_frame(stdout, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            request = read_frame(stdin)
        except (ValueError, OSError):
            return 2
        if request is None:
            return 0  # the parent closed the pipe (or exited)
        answer, keep_going = _answer(request)
        if not keep_going:
            answer["exiting"] = True  # the parent starts a fresh worker for the next render
        write_frame(stdout, answer)
        if not keep_going:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
