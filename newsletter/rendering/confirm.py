"""The double opt-in confirmation email (rare and per person, so compiled per send)."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.rendering.compose import PersonalEmail, compile_template
from newsletter.rendering.placeholders import Recipient


def render_confirmation(
    settings: Settings, *, confirm_url: str, first_name: str | None
) -> PersonalEmail:
    compiled = compile_template(
        "confirm",
        settings,
        subject=f"Please confirm your subscription to {settings.clinic_name}",
        preheader="One click to confirm, and you will start receiving our news.",
        extra={"confirm": {"href": confirm_url}},
    )
    return compiled.personalize(
        Recipient(first_name=first_name, unsubscribe_token="", recipient_token="")
    )
