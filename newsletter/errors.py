"""Project errors. Each says what went wrong, where, and how to fix it.

Entry points (CLI, web) turn these into exit codes or HTTP statuses in one place;
everything below them raises, never prints.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base class: a problem the user can fix. `str()` reads as one complete message."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)


class ConfigurationError(NewsletterError):
    """A setting is missing or invalid."""


class ArticleError(NewsletterError):
    """An article file cannot be turned into an Article."""


class TemplateError(NewsletterError):
    """An email template is missing, broken, or uses an unknown name."""


class ValidationError(NewsletterError):
    """User input (a campaign key, an address, a CSV row...) is invalid."""


class NotFound(NewsletterError):
    """A named thing (segment, list, campaign, subscriber) does not exist."""


class Forbidden(NewsletterError):
    """The person acting may not do this (their role, or the approval rule, forbids it)."""
