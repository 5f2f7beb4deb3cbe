"""Settings: one frozen object built from, in order of precedence,

1. environment variables `NEWSLETTER_<NAME>`,
2. an optional `.env` file in the working directory (same names),
3. `newsletter.toml` in the working directory (or the file `NEWSLETTER_CONFIG` names),
   whose keys are the setting names in lower case without the prefix,
4. the defaults below, which describe the demo clinic (Mindstream Medicine, Philadelphia).

A missing or invalid value stops with a `ConfigurationError` naming the setting, where the
value came from, and how to fix it. The field descriptions double as the settings reference
(docs/settings.md is checked against them by the test suite).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from newsletter.config_features import FeatureSettings
from newsletter.config_files import (
    CONFIG_FILE,
    ENV_PREFIX,
    TomlSource,
    check_dotenv,
    source_of,
)
from newsletter.domain.send_time import time_zone
from newsletter.errors import ConfigurationError, ValidationError
from newsletter.keys.ring import KeyRing, KeyRingError

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Settings(FeatureSettings):
    """Every tunable of the product. Names are the environment variables without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # --- the clinic and its brand -------------------------------------------------------
    clinic_name: str = Field("Mindstream Medicine", description="Clinic name in header and footer.")
    postal_address: str = Field(
        "1601 Walnut Street, Suite 1200, Philadelphia, PA 19103",
        description="Physical postal address printed in every email footer (CAN-SPAM).",
    )
    logo_url: str = Field("", description="https URL of the logo; empty shows the clinic name.")
    brand_color: str = Field("#2F5D62", description="Main brand colour (#RRGGBB).")
    accent_color: str = Field("#C8553D", description="Button colour (#RRGGBB).")
    text_color: str = Field("#1F2933", description="Body text colour (#RRGGBB).")
    background_color: str = Field("#F4F1EC", description="Page background colour (#RRGGBB).")
    sender_name: str = Field("Mindstream Medicine", description="From name.")
    sender_email: str = Field("news@mindstream.example", description="From address.")
    reply_to: str = Field("hello@mindstream.example", description="Reply-To address.")
    transactional_sender_name: str = Field(
        "Mindstream Medicine",
        description="From name of transactional email (opt-in confirmations).",
    )
    transactional_sender_email: str = Field(
        "confirm@mindstream.example",
        description="From address of transactional email (opt-in confirmations), kept apart "
        "from the newsletter's (Gmail and Yahoo sender rules).",
    )
    time_zone: str = Field(
        "America/New_York",
        description="The clinic's IANA time zone: the default for `campaign schedule --at`.",
    )
    booking_url: str = Field(
        "https://mindstream.example/book-a-consultation",
        description="Consultation booking page: the target of the 'Book a consultation' button.",
    )
    website_url: str = Field(
        "https://mindstream.example", description="Clinic website; links to it count as `article`."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public base URL of this app, for unsubscribe and click links.",
    )
    footer_reason: str = Field(
        "You are receiving this email because you subscribed to news from {clinic_name}.",
        description="Why the reader gets this email (footer); `{clinic_name}` is replaced.",
    )
    first_name_fallback: str = Field(
        "there", description="Greeting word when a subscriber has no first name ('Hi there')."
    )

    # --- runtime -------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None,
        description="Key ring for link tokens and address hashes: `ID:SECRET` entries (≥ 32 "
        "characters each), the current key first. Required for a production-like setup.",
    )
    secret_key_file: Path | None = Field(
        None, description="A file holding the key ring instead (Docker / systemd secrets)."
    )
    templates_dir: Path = Field(
        Path("templates"), description="Folder of email templates (falls back to the bundled one)."
    )
    audiences_dir: Path = Field(Path("audiences"), description="Folder of segment files.")
    database_url: str = Field(
        "sqlite:///newsletter.db", description="SQLAlchemy URL: SQLite file or PostgreSQL."
    )
    click_tracking: bool = Field(
        True, description="Rewrite links to the app's own first-party /r/ click redirect."
    )
    outbox_dir: Path = Field(Path("outbox"), description="Folder for the outbox delivery backend.")
    delivery: Literal["sendgrid", "smtp", "outbox"] | None = Field(
        None, description="Delivery backend; default sendgrid when an API key is set, else outbox."
    )

    # --- sending ---------------------------------------------------------------------------
    sendgrid_api_key: SecretStr | None = Field(None, description="SendGrid API key (Mail Send).")
    sendgrid_base_url: str = Field(
        "https://api.sendgrid.com", description="SendGrid API base URL, without /v3."
    )
    sendgrid_timeout: float = Field(30.0, gt=0, description="Seconds before a request times out.")
    sendgrid_webhook_public_key: str | None = Field(
        None, description="Event Webhook verification key (base64 DER, from SendGrid)."
    )
    webhook_max_age_s: int = Field(
        25 * 3600, gt=0, description="Reject webhook posts whose signed timestamp is older."
    )
    webhook_max_future_s: int = Field(
        300, gt=0, description="Reject webhook posts whose signed timestamp is further ahead."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for the smtp backend.")
    smtp_port: int = Field(587, gt=0, lt=65536, description="SMTP port.")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field("starttls", description="SMTP TLS mode.")
    smtp_username: str | None = Field(None, description="SMTP login (optional).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (optional).")
    batch_size: int = Field(
        100, ge=1, le=1000, description="Recipients per provider request (max 1000)."
    )
    send_threads: int = Field(4, ge=1, le=32, description="Concurrent batch senders per engine.")
    send_rate: float = Field(
        0.0, ge=0, description="Recipients per second per engine (0 = no local limit)."
    )
    lease_seconds: float = Field(120.0, gt=0, description="How long a claimed batch is owned.")
    send_safety_margin_s: float = Field(
        10.0,
        ge=0,
        description="Longest pause assumed between a sender's last lease check and its "
        "socket write (and clock skew between engine hosts); docs/sending.md, Stalls.",
    )
    max_attempts: int = Field(8, ge=1, description="Attempts per batch before it fails.")
    retry_base_s: float = Field(1.0, gt=0, description="Backoff base (full jitter).")
    retry_cap_s: float = Field(300.0, gt=0, description="Backoff cap.")
    unknown_policy: Literal["events", "hold", "resend"] | None = Field(
        None,
        description="Unknown outcomes: events (resolve from webhook evidence; default with a "
        "webhook key), hold (needs_review; default without), resend (opt-in).",
    )
    webhook_grace_s: float = Field(
        900.0, gt=0, description="Wait for provider evidence before judging an unknown batch."
    )
    late_send_window_s: int = Field(
        6 * 3600, ge=0, description="A scheduled campaign later than this is marked missed."
    )
    tick_seconds: float = Field(15.0, gt=0, description="Engine tick interval.")
    dispatcher: Literal["threads", "dramatiq"] = Field(
        "threads", description="Where batches run: engine threads, or Dramatiq workers."
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Dramatiq broker (redis:// or amqp://)."
    )
    broker_queue: str = Field(
        "newsletter-send",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="The Dramatiq queue batches go to; one per installation sharing a broker.",
    )
    list_id: str = Field(
        "Clinic news <news.newsletter.local>", description="Neutral List-Id header value."
    )

    @field_validator("brand_color", "accent_color", "text_color", "background_color")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not _HEX_COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour like #2F5D62")
        return value

    @field_validator("sender_email", "reply_to", "transactional_sender_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("booking_url", "website_url", "public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("logo_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError(f"{value!r} must be an https URL (or empty)")
        return value

    @field_validator("clinic_name", "postal_address", "sender_name", "transactional_sender_name")
    @classmethod
    def _required_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if "\r" in value or "\n" in value:
            raise ValueError("must be a single line")
        return value.strip()

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _webhook_key(cls, value: str | None) -> str | None:
        """Checked here, once: a mis-pasted key must stop the app at start-up with this
        message, not turn every signed post SendGrid makes into a "bad signature"."""
        from newsletter.tracking.signature import InvalidWebhookKey, load_public_key

        if value is None or not value.strip():
            return None
        try:
            load_public_key(value.strip())
        except InvalidWebhookKey as problem:
            raise ValueError(
                f"{problem}; copy it from SendGrid (Settings → Mail Settings → Event Webhook "
                "→ Signature Verification)"
            ) from None
        return value.strip()

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            time_zone(value)
        except ValidationError as exc:
            raise ValueError(f"{exc.message} (IANA names such as America/New_York)") from None
        return value

    @field_validator("send_safety_margin_s")
    @classmethod
    def _lease_covers_request(cls, value: float, info: Any) -> float:
        lease, timeout = info.data.get("lease_seconds"), info.data.get("sendgrid_timeout")
        if lease is not None and timeout is not None and lease <= timeout + value:
            raise ValueError(
                f"NEWSLETTER_LEASE_SECONDS ({lease:g}) must exceed NEWSLETTER_SENDGRID_TIMEOUT "
                f"({timeout:g}) + NEWSLETTER_SEND_SAFETY_MARGIN_S ({value:g}): before each "
                "request a sender checks that its lease outlives both, so no batch would ever "
                "be sent (docs/sending.md, Stalls)"
            )
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                KeyRing.parse(value.get_secret_value())
            except KeyRingError as exc:
                raise ValueError(str(exc)) from None
        return value

    # The whole ring, set by load_settings; `secret_key` then holds the current key alone,
    # so code that reads `secret_key` (a hash key, an itsdangerous secret) gets that one.
    _key_ring: KeyRing | None = PrivateAttr(default=None)

    @property
    def key_ring(self) -> KeyRing:
        """The current key (signs tokens, keys address hashes) and the older ones (verify)."""
        if self._key_ring is not None:
            return self._key_ring
        assert self.secret_key is not None, "load_settings() always provides a key"
        return KeyRing.parse(self.secret_key.get_secret_value())

    @property
    def signing_keys(self) -> dict[str, str]:
        """Key id → secret for verifying link tokens (every key of the ring)."""
        return dict(self.key_ring.as_mapping())

    @property
    def delivery_backend(self) -> str:
        if self.delivery:
            return self.delivery
        return "sendgrid" if self.sendgrid_api_key else "outbox"

    @property
    def effective_unknown_policy(self) -> str:
        if self.unknown_policy:
            return self.unknown_policy
        return "events" if self.sendgrid_webhook_public_key else "hold"

    @property
    def footer_reason_text(self) -> str:
        return self.footer_reason.replace("{clinic_name}", self.clinic_name)

    @property
    def templates_path(self) -> Path:
        """The configured templates folder, else the one shipped with the package."""
        if self.templates_dir.is_dir():
            return self.templates_dir
        from newsletter.samples import TEMPLATES

        return TEMPLATES

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, TomlSource(settings_cls))


SETTING_NAMES: tuple[str, ...] = tuple(Settings.model_fields)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise ConfigurationError naming the bad setting and its source.

    The key ring is settled here, for every command: given, read from its file, refused in a
    production-like setup without one, or generated next to the database (`keys.source`).
    """
    from newsletter.keys.source import ring_text

    check_dotenv()
    try:
        settings = Settings(**overrides)
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"setting `{field}` from {source_of(field, SETTING_NAMES)}: {message}")
        raise ConfigurationError(
            "; ".join(problems),
            fix=f"correct the value (environment variable, .env, or {CONFIG_FILE}); "
            "docs/settings.md lists every setting",
        ) from None
    ring = KeyRing.parse(ring_text(settings))
    settings = settings.model_copy(update={"secret_key": SecretStr(ring.current)})
    settings._key_ring = ring
    return settings
