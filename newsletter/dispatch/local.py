"""Thread-pool dispatcher: batches run in this process (the single-machine default).

Its name is the lease owner of every batch it runs: with an `executor` (storage/executors.py)
that name is the registered executor's, whose kernel lock proves this process alive; `close()`
unregisters it. An `ExecutorLost` from a batch halts the pool: nothing more is run."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from newsletter.services.send_batch import ExecutorLost, SendContext, send_batch
from newsletter.storage.executors import Executor

log = logging.getLogger(__name__)


class ThreadPoolDispatcher:
    def __init__(
        self,
        ctx: SendContext,
        *,
        threads: int,
        worker_id: str,
        executor: Executor | None = None,
    ):
        self._ctx = ctx
        self.name = worker_id
        self._executor = executor
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._worker_id = worker_id
        self._running: set[Future[str]] = set()
        self.lost: ExecutorLost | None = None
        self._failures: list[Exception] = []
        self._lock = threading.Lock()

    def submit(self, batch_id: int) -> None:
        future = self._pool.submit(self._run, batch_id)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._done)

    def _run(self, batch_id: int) -> str:
        if self.lost is not None:
            return "halted"
        try:
            return send_batch(self._ctx, batch_id, worker=self._worker_id)
        except ExecutorLost as exc:
            log.error("batch %s: %s; this process sends nothing more", batch_id, exc)
            with self._lock:
                if self.lost is None:
                    self.lost = exc
                    self._failures.append(exc)
            return "halted"
        except Exception as exc:  # the batch stays claimable or unknown; the next tick retries
            log.exception("batch %s failed in the engine; it will be retried", batch_id)
            with self._lock:
                self._failures.append(exc)
            return "error"

    def _done(self, future: Future[str]) -> None:
        with self._lock:
            self._running.discard(future)

    def idle(self) -> bool:
        with self._lock:
            return not self._running

    def check(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise failures[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._executor is not None:
            self._executor.close()
