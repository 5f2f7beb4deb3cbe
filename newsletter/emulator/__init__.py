"""A faithful, lean, local SendGrid v3 emulator (see docs/emulator.md and docs/sendgrid.md §10).

    from newsletter.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(webhook_url=url)) as emu:
        sg = sendgrid.SendGridAPIClient(api_key="SG.local-dev-key", host=emu.base_url)
        ...
        emu.messages_to("a@example.org")

Names are imported lazily, so `from newsletter.emulator.substitutions import
apply_substitutions` (used by the product's own backends) pulls in no server, httpx or
cryptography code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EmulatorConfig": "config",
    "RateLimit": "config",
    "WebhookConfig": "config",
    "iter_recipients": "log",
    "messages_to": "log",
    "read_log": "log",
    "EmulatorHandle": "server",
    "run_emulator": "server",
    "serve": "server",
    "start_emulator": "server",
    "apply_substitutions": "substitutions",
    "SIGNATURE_HEADER": "webhook",
    "TIMESTAMP_HEADER": "webhook",
    "Signer": "webhook",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'newsletter.emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(f"newsletter.emulator.{module}"), name)
