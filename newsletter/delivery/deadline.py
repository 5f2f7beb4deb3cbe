"""A whole-request deadline for HTTP clients that only have a per-socket timeout.

urllib (under the official `sendgrid` client) applies its timeout to each socket operation:
a server that trickles one byte every few seconds keeps a request alive for ever. Here a
request runs under a `Deadline` (an instant on a monotonic clock, set by the sender's
pre-request check, docs/sending.md "Stalls"): every socket the request opens registers with
it, every write first checks it, and one watchdog thread per process shuts the sockets down
when it passes, so a request can never last past its deadline, however the server behaves.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


class DeadlinePassed(TimeoutError):
    """The request's deadline passed: the socket was (or is now) shut down."""


@dataclass(eq=False)
class Deadline:
    """`at` on `clock` (seconds, monotonic): the instant the request must be over by."""

    at: float
    clock: Callable[[], float] = time.monotonic
    sockets: list[socket.socket] = field(default_factory=list)
    fired: bool = False
    done: bool = False  # the request is over: the watchdog ignores it
    bytes_written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remaining(self) -> float:
        return self.at - self.clock()

    def add_socket(self, sock: socket.socket) -> None:
        """A socket the request opened: shut it down at the deadline (or now, if passed)."""
        with self._lock:
            if not self.fired and self.remaining() > 0:
                self.sockets.append(sock)
                return
            self.fired = True
        _shutdown(sock)
        raise DeadlinePassed("the request's deadline passed before it could connect")

    def check_write(self, size: int) -> None:
        """Called just before bytes go to the kernel: refuse once the deadline has passed
        (the watchdog thread may itself have been paused with the process)."""
        if self.fired or self.remaining() <= 0:
            self.fire()
            raise DeadlinePassed("the request's deadline passed before this write")
        self.bytes_written += size

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    """Shut the raw socket down (not the TLS layer: that would need the blocked reader's
    lock); the blocked read or write in the request's thread then fails at once."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process: fires each armed deadline when it passes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        self._push(deadline)

    def _push(self, deadline: Deadline) -> None:
        # Keyed on this process's monotonic clock, whatever clock the deadline reads
        # (tests inject one), so deadlines on different clocks cannot block each other.
        due = time.monotonic() + deadline.remaining()
        with self._cond:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (due, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="request-deadline", daemon=True
                )
                self._thread.start()
            if earliest is None or due < earliest:
                self._cond.notify()  # only an earlier deadline changes the watchdog's wait

    def disarm(self, deadline: Deadline) -> None:
        """The request is over: nothing left to shut down (its entry expires lazily)."""
        with deadline._lock:
            deadline.sockets = []
            deadline.done = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                due, _order, deadline = self._heap[0]
                if not deadline.done and (wait := due - time.monotonic()) > 0:
                    self._cond.wait(wait)  # re-evaluated: a new, earlier deadline notifies
                    continue
                heapq.heappop(self._heap)
            if deadline.done:
                continue
            if deadline.remaining() > 0:
                self._push(deadline)  # its own clock says not yet: look again later
            else:
                deadline.fire()


_watchdog = _Watchdog()
_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "request_deadline", default=None
)


def current() -> Deadline | None:
    """The deadline the calling thread's request runs under, if any."""
    return _current.get()


@contextlib.contextmanager
def request_deadline(deadline: Deadline) -> Iterator[Deadline]:
    """Run a request under `deadline`: its sockets are shut down when it passes."""
    token = _current.set(deadline)
    _watchdog.arm(deadline)
    try:
        yield deadline
    finally:
        _watchdog.disarm(deadline)
        _current.reset(token)
