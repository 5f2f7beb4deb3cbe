"""Settings of the product's optional parts: the admin, tracking and bookings, and the
limits on inputs and rendering. A base of `config.Settings` (which adds the clinic, runtime
and sending settings and how they load): one registry, kept in two files by concern."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class FeatureSettings(BaseSettings):
    # --- the admin (docs/admin.md) -----------------------------------------------------------
    admin_enabled: bool = Field(
        True, description="Serve the admin under /admin (false: only the public routes)."
    )
    approval: bool = Field(
        True,
        description="Once accounts exist, sending needs an approval by someone other than "
        "the author (off: a one-person clinic).",
    )
    fetch_allow_private: bool = Field(
        False,
        description="Let the article fetcher reach private, loopback and link-local "
        "addresses (tests, an intranet blog).",
    )

    # --- tracking, conversions, preferences (docs/tracking.md) ----------------------------
    open_tracking: bool = Field(
        False, description="Add an open-tracking pixel (/o/); off: opens are unreliable."
    )
    conversions_api_key: SecretStr | None = Field(
        None, description="Bearer key for POST /api/v1/conversions (unset: the route answers 503)."
    )
    attribution_days: int = Field(
        14, ge=1, le=365, description="Bookings within this many days of a campaign's start count."
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Comma-separated proxy addresses/networks whose X-Forwarded-For is believed.",
    )
    calendly_signing_key: SecretStr | None = Field(
        None, description="Calendly webhook signing key (unset: /webhooks/calendly answers 503)."
    )
    topic_labels: str = Field(
        "", description="Topics on the preference page: `name=Label; name=Label` (in order)."
    )
    resubscribe_consent: str = Field(
        "Yes, send me newsletter emails from {clinic_name} again.",
        description="Consent wording recorded when someone resubscribes on the preference page.",
    )

    # --- limits ------------------------------------------------------------------------------
    render_timeout_s: float = Field(
        2.0, gt=0, le=600, description="Hard deadline of one template render (worker process)."
    )
    render_max_output_bytes: int = Field(
        1_000_000, ge=10_000, description="Largest output of one template, before MJML."
    )
    webhook_retention_days: float = Field(
        7.0, ge=0, description="Days a processed raw webhook batch is kept before purging."
    )
    max_csv_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="Largest subscriber CSV file accepted."
    )
    max_csv_row_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Longest CSV record accepted."
    )
    max_markdown_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest Markdown article file accepted."
    )
    max_html_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest HTML article file accepted."
    )
    max_text_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest plain-text article file accepted."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from newsletter.engagement.network import parse_networks

        parse_networks(value)  # ValueError names the bad part
        return value

    @field_validator("topic_labels")
    @classmethod
    def _labels(cls, value: str) -> str:
        from newsletter.engagement.preference_rules import parse_topic_labels

        parse_topic_labels(value)
        return value

    @property
    def article_limits(self) -> Any:
        """Per-format size limits for article files (`articles.ArticleLimits`)."""
        from newsletter.articles import ArticleLimits

        return ArticleLimits(
            text=self.max_text_bytes, markdown=self.max_markdown_bytes, html=self.max_html_bytes
        )
