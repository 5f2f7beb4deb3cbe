"""Write chunks on one background thread while the caller reads and shapes the next ones.

psycopg and sqlite3 release the GIL while the database works, so a writer thread overlaps
the database's work on chunk N with the Python work of reading and preparing chunk N+1
(for a million-row import on PostgreSQL that work is about half of the time). One writer,
chunks in submission order. Chunks that are already waiting when one is done go into the
same transaction, up to `group` of them: when the database is the bottleneck, fewer commits
(SQLite writes every page a transaction dirtied to its WAL at each commit, and a random-order
index such as `subscribers.email` dirties thousands); when the reader is, a chunk commits
as soon as it is written and no transaction waits for input. After a failure nothing later
is written and the failed transaction rolls back whole, so "resume after the last committed
line" stays exact.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

C = TypeVar("C")
T = TypeVar("T")
_DONE = object()
_NONE = object()
_POLL_SECONDS = 0.1


class ChunkWriter(Generic[C, T]):
    """`submit` chunks, then `close()` (waits for all; re-raises the writer's error) or, when
    the caller fails, `abort()` (finishes the chunk being written, commits its transaction,
    drops the queued ones). `transaction()` opens a transaction (its context manager commits
    on success, rolls back on error); `write(tx, chunk)` writes one chunk inside it."""

    def __init__(
        self,
        write: Callable[[C, T], None],
        transaction: Callable[[], AbstractContextManager[C]],
        *,
        depth: int = 1,
        group: int = 1,
    ) -> None:
        self._write, self._transaction, self._group = write, transaction, max(1, group)
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
        """Stop after the chunk in progress (its transaction commits or rolls back)."""
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
        item = self._queue.get()
        try:
            while item is not _DONE and not self._stopping.is_set():
                with self._transaction() as tx:
                    item = self._write_group(tx, item)
                if item is _NONE:
                    item = self._queue.get()
        except BaseException as error:  # re-raised in the caller's thread
            self._error = error

    def _write_group(self, tx: C, item: object) -> object:
        """Write `item` and the chunks already waiting, up to `group`; return the next item
        taken from the queue but not written (`_DONE`), or `_NONE`."""
        for n in range(1, self._group + 1):
            self._write(tx, item)  # type: ignore[arg-type]  # a chunk: sentinels never get here
            if n == self._group or self._stopping.is_set():
                return _NONE
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return _NONE
            if item is _DONE or self._stopping.is_set():
                return _DONE
        return _NONE
