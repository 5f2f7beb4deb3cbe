"""The dispatcher protocol. Messages carry only a batch id; the database holds the state.

Contract: `submit(batch_id)` arranges for `send_batch(batch_id)` to run soon, at least once.
Duplicate or lost submissions are harmless: the claim is a compare-and-set, and the engine
re-dispatches due batches every tick.
"""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    def submit(self, batch_id: int) -> None: ...

    def idle(self) -> bool:
        """True when nothing submitted is still running (threads) or unknown (remote)."""
        ...

    def check(self) -> None:
        """Re-raise an unexpected error from a batch run here (a bug, not a provider fault)."""
        ...

    def close(self) -> None: ...
