"""Writes each message as an .eml file: for local use, demos and previews.

Idempotent per recipient: the file is named after the opaque send id and written atomically,
so a retried batch overwrites rather than duplicates.
"""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.delivery.base import OutgoingBatch
from newsletter.delivery.headers import refused
from newsletter.delivery.mime import build_message
from newsletter.domain.sending import ProviderResult


class OutboxBackend:
    name = "outbox"
    max_batch = 1000

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, batch: OutgoingBatch) -> ProviderResult:
        if (refusal := refused(batch)) is not None:
            return refusal
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for recipient in batch.recipients:
                path = self.folder / f"{recipient.send_id}.eml"
                temporary = path.with_suffix(".tmp")
                temporary.write_bytes(bytes(build_message(batch, recipient)))
                os.replace(temporary, path)
        except OSError as exc:
            return ProviderResult(failure="refused", detail=f"outbox: {exc}")
        return ProviderResult(status=202)

    def request_test_event(self) -> bool:
        return False  # no event feed: unknown outcomes are held for review
