"""`newsletter engine` (the scheduler, one per database) and `newsletter worker` (Dramatiq)."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from newsletter.cli.app import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, app, console
from newsletter.config import load_settings
from newsletter.errors import ConfigurationError


def _say(message: str) -> None:
    console.print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", highlight=False)


@app.command("engine")
def engine_command() -> None:
    """Run the engine in the foreground: starts scheduled campaigns on time, dispatches
    batches, recovers after crashes. Exactly one per database; stop with Ctrl-C or SIGTERM."""
    from newsletter.bootstrap import dispatcher, open_database, send_context
    from newsletter.engine import Engine

    settings = load_settings()
    with open_database(settings) as db:
        ctx = send_context(settings, db)
        pool = dispatcher(settings, ctx, kind="engine")
        engine = Engine(settings, db, ctx, pool, report=_say)
        _say(
            f"Engine for {db.dialect} database; batches run in "
            + (
                f"{settings.send_threads} local thread(s)."
                if settings.dispatcher == "threads"
                else f"Dramatiq workers ({settings.broker_url.split('@')[-1]})."
            )
        )
        try:
            engine.start()
        except BaseException:
            pool.close()
            raise
        stop = threading.Event()
        previous = _on_signals(lambda: stop.set())
        try:
            while not stop.wait(0.5):
                if engine.failure:
                    break
        finally:
            _restore(previous)
            _say("Stopping: waiting for the running tick and in-flight batches…")
            engine.stop()
        if engine.failure:
            console.print(f"Engine halted: {engine.failure}", highlight=False)
            raise typer.Exit(EXIT_CHECK_FAILED)


def _on_signals(handler: Any) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda _signum, _frame: handler())
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for number, old in previous.items():
        signal.signal(number, old)


@app.command("worker")
def worker_command(
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Threads per process (default: SEND_THREADS).")
    ] = None,
) -> None:
    """Run Dramatiq workers that send batches (for `dispatcher = "dramatiq"`); as many
    machines as you like, next to one `newsletter engine`."""
    settings = load_settings()
    if settings.dispatcher != "dramatiq":
        raise ConfigurationError(
            "workers only receive batches when the engine dispatches through Dramatiq",
            where=f"setting `dispatcher` (NEWSLETTER_DISPATCHER) is {settings.dispatcher!r}",
            fix="set NEWSLETTER_DISPATCHER=dramatiq for the engine and the workers",
        )
    from newsletter.dispatch import dramatiq as dramatiq_dispatch

    command = dramatiq_dispatch.worker_command(
        settings, processes=processes, threads=threads or settings.send_threads
    )
    _say(
        f"Dramatiq worker: {processes} process(es) × {threads or settings.send_threads} "
        f"thread(s), queue {settings.broker_queue!r}, broker "
        f"{settings.broker_url.split('@')[-1]}. Stop with Ctrl-C or SIGTERM."
    )
    try:
        dramatiq_dispatch.exec_worker(command)
    except OSError as exc:  # pragma: no cover - exec failed
        console.print(f"Could not start dramatiq: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
