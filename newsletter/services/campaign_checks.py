"""What a campaign's stored email must pass: the pre-send checklist, run before it is sent
or scheduled (and reported as warnings when it is created)."""

from __future__ import annotations

from typing import Any

from newsletter.config import Settings
from newsletter.errors import ValidationError
from newsletter.rendering.checks import run_checks
from newsletter.services.campaigns import compiled_email
from newsletter.services.previews import expectations, sample_recipient


def preflight(row: Any, settings: Settings) -> None:
    """A campaign whose email fails the pre-send checklist cannot be sent."""
    email = compiled_email(row, settings).personalize(sample_recipient(settings))
    failed = [c for c in run_checks(email, expectations(settings)) if c.status == "fail"]
    if failed:
        raise ValidationError(
            "the email fails the pre-send checklist: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed),
            where=f"campaign {row.id}",
            fix="fix the article, template or settings, then create the campaign again",
        )
