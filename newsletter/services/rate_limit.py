"""An in-process token bucket: recipients per second across this engine's sender threads.

(Across several Dramatiq workers, the worker entry point swaps in Dramatiq's Redis-backed
limiter instead; the call site only needs `take(n)`.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else rate
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self, amount: float) -> None:
        """Block until `amount` tokens are available (a batch larger than the burst waits
        for the deficit), then spend them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= amount
            deficit = -self._tokens
        if deficit > 0:
            self._sleep(deficit / self.rate)
