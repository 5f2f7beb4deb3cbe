"""Configuration of the SendGrid emulator: one dataclass, plain values, sensible test defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
DEFAULT_API_KEY = "SG.local-dev-key"
# A fixed, public, test-only scalar: anyone can derive the private key, so it signs test
# webhooks only. Override with `signing_scalar` to get a different key pair.
DEFAULT_SIGNING_SCALAR = 0x5E6D_6A11_E4A7_0B00_C0FF_EE00_1234_5678_9ABC_DEF0_1357_9BDF_2468_ACE0


@dataclass(frozen=True)
class RateLimit:
    """Token bucket: `limit` requests per `period_s`, refilled continuously."""

    limit: int = 600
    period_s: float = 60.0


@dataclass(frozen=True)
class WebhookConfig:
    """How events are batched and delivered (SendGrid: every 30 s or 768 KB per server).

    `lag_s` holds each event back before it may be posted (the batching window); posts carry
    at most `batch_max_events` events or `batch_max_bytes` of body.
    """

    lag_s: float = 0.0
    batch_max_events: int = 1000
    batch_max_bytes: int = 768 * 1024
    append_crlf: bool = True
    timeout_s: float = 5.0
    retry_base_s: float = 0.5
    retry_max_s: float = 60.0
    retry_max_attempts: int = 20
    keep_deliveries: int = 1000


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told at start-up (fault knobs are set at runtime)."""

    api_keys: dict[str, set[str]] = field(default_factory=lambda: {DEFAULT_API_KEY: {"mail.send"}})
    verified_senders: set[str] = field(default_factory=set)  # empty = any; "@domain" allowed
    credits: int | None = None  # None = unlimited; one credit per accepted recipient
    body_max_bytes: int = 30 * MIB
    accept_gzip: bool = False
    custom_args_max_bytes: int = 10_000
    substitutions_max_keys: int = 150
    substitutions_max_bytes: int = 10_000
    asm_groups: set[int] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    ip_pools: set[str] = field(default_factory=set)
    rate_limit: RateLimit | None = None
    webhook_url: str | None = None
    signing_scalar: int = DEFAULT_SIGNING_SCALAR
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    log_path: Path | str | None = None  # None = a temporary file, removed on stop
    full_bodies: bool = False  # also log each personalization's rendered subject/text/html
    fsync: bool = True
    clock_offset_s: float = 0.0
    seed: int = 0
