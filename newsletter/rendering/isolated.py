"""Render marketer-editable templates in a worker process with a hard deadline.

Every caller (the CLI's render, check and preview, the web preview, campaign creation,
confirmation emails) goes through `render_pair`. One worker process per parent process is
started on first use and reused (a render costs a pipe round trip, not an interpreter
start); after a timeout it is killed and the next render starts a fresh one. Renders from
several threads (the web app) take turns on it. A forked child starts its own worker.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from newsletter.errors import TemplateError
from newsletter.rendering.sandbox import RenderLimits
from newsletter.rendering.worker_protocol import encode, read_frame, write_frame

STARTUP_TIMEOUT_S = 60.0  # an interpreter start on a loaded machine; not the render deadline
SOFT_DEADLINE_SHARE = 0.8  # the worker stops a Python loop itself at 80 % of the deadline


class WorkerFailed(TemplateError):
    """The worker process could not be started or stopped answering."""


class TemplateWorker:
    """One worker process, started lazily, killed and replaced after a timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = 0
        self.starts = 0  # processes started so far (tests and benchmarks read it)

    def render_pair(
        self,
        folder: Path,
        template: str,
        context: dict[str, Any],
        text_overrides: dict[str, Any],
        *,
        timeout_s: float,
        limits: RenderLimits,
    ) -> tuple[str, str]:
        request = {
            "folder": str(folder.resolve()),
            "template": template,
            "context": encode(context),
            "text_overrides": encode(text_overrides),
            "limits": asdict(limits),
            "soft_deadline_s": timeout_s * SOFT_DEADLINE_SHARE,
        }
        where = str(folder / f"{template}.mjml")
        with self._lock:
            process = self._ensure_started()
            try:
                assert process.stdin is not None
                write_frame(process.stdin, request)
            except OSError:
                self._discard()
                raise WorkerFailed(
                    "the template worker stopped", where=where, fix="render again"
                ) from None
            answer = self._read(process, timeout_s, where)
        if "error" in answer:
            error = answer["error"]
            raise TemplateError(error["message"], where=error.get("where"), fix=error.get("fix"))
        return answer["html"], answer["text"]

    def ensure_started(self) -> None:
        """Start the worker now (a server does this at start-up, off the first request)."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is not None and self._owner_pid == os.getpid() and process.poll() is None:
            return process
        if self._owner_pid != os.getpid():
            self._process = None  # a forked child: the parent's worker is not ours to use
        else:
            self._discard()
        try:
            process = subprocess.Popen(  # our own module, no shell
                [sys.executable, "-I", "-m", "newsletter.rendering.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            raise WorkerFailed(
                f"cannot start the template worker ({exc.strerror})",
                fix="check that Python can start processes here",
            ) from None
        self._process, self._owner_pid = process, os.getpid()
        self.starts += 1
        ready = self._read(process, STARTUP_TIMEOUT_S, "the template worker")
        if not ready.get("ready"):
            self._discard()
            raise WorkerFailed("the template worker did not start", fix="reinstall the product")
        return process

    def _read(self, process: subprocess.Popen[bytes], timeout_s: float, where: str) -> dict:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._discard()
                raise TemplateError(
                    f"the template took longer than {timeout_s:g} s to render",
                    where=where,
                    fix="a loop or filter runs too long: simplify it "
                    "(NEWSLETTER_RENDER_TIMEOUT_S sets the deadline)",
                )
            readable, _, _ = select.select([process.stdout], [], [], left)
            if readable:
                break
        try:
            assert process.stdout is not None  # started with stdout=PIPE
            answer = read_frame(process.stdout)
        except (ValueError, OSError):
            answer = None
        if answer is None:
            code = process.poll()
            self._discard()
            raise WorkerFailed(
                "the template worker stopped while rendering"
                + (f" (exit code {code})" if code is not None else ""),
                where=where,
                fix="the template may use too much memory; render again to retry",
            )
        if answer.get("exiting") or process.poll() is not None:  # after a memory error
            self._discard()
        return answer

    def _discard(self) -> None:
        process, self._process = self._process, None
        if process is None or self._owner_pid != os.getpid():
            return
        if process.poll() is None:
            process.kill()
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def close(self) -> None:
        with self._lock:
            self._discard()


WORKER = TemplateWorker()
atexit.register(WORKER.close)


def render_pair(
    folder: Path,
    template: str,
    context: dict[str, Any],
    text_overrides: dict[str, Any],
    *,
    timeout_s: float = 2.0,
    limits: RenderLimits | None = None,
) -> tuple[str, str]:
    """`<template>.mjml` → HTML and `<template>.txt` → text, rendered in the worker process
    within `timeout_s`, or TemplateError (file, line, what was refused or took too long)."""
    return WORKER.render_pair(
        folder, template, context, text_overrides, timeout_s=timeout_s,
        limits=limits or RenderLimits(),
    )  # fmt: skip
