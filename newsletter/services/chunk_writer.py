"""Write chunks on one background thread while the caller reads and shapes the next ones.

psycopg and sqlite3 release the GIL while the database works, so a writer thread overlaps
the database's work on chunk N with the Python work of reading and preparing chunk N+1
(for a million-row import on PostgreSQL that work is about half of the time). One writer,
chunks in submission order, each written by `write` in its own transaction: after a
failure nothing later is written, so "resume after the last committed line" stays exact.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_SECONDS = 0.1


class ChunkWriter(Generic[T]):
    """`submit` chunks, then `close()` (waits for all; re-raises the writer's error) or, when
    the caller fails, `abort()` (finishes the chunk being written, drops the queued ones)."""

    def __init__(self, write: Callable[[T], None], *, depth: int = 1) -> None:
        self._write = write
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        # Started by the first chunk, so a process pool created before then may still fork.
        self._thread = threading.Thread(target=self._run, name="chunk-writer", daemon=True)

    def submit(self, chunk: T) -> None:
        """Queue a chunk (blocks while `depth` chunks wait); raises the writer's error."""
        self._put(chunk)

    def close(self) -> None:
        """Wait until every submitted chunk is written; raise the writer's error if any."""
        self._put(_DONE)
        self._thread.join()
        self._raise_error()

    def abort(self) -> None:
        """Stop after the chunk in progress (its transaction completes or rolls back)."""
        self._stopping.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_DONE)  # the queue is empty now, so this cannot block
        if self._thread.ident is not None:
            self._thread.join()

    def _put(self, item: object) -> None:
        if self._thread.ident is None:
            self._thread.start()
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise RuntimeError("the chunk writer has stopped")
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue  # the writer may have failed meanwhile: check again

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE or self._stopping.is_set():
                return
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as error:  # re-raised in the caller's thread
                self._error = error
                return
