"""Delivery backends behind one protocol: SendGrid (production), SMTP, and an outbox folder."""

from __future__ import annotations


def max_batch(kind: str) -> int:
    """The largest batch the backend named by `NEWSLETTER_DELIVERY` takes in one call, read
    from its class without building it (no key or connection needed): campaigns are cut to it
    when created, and again by the running engine before planning (`services.planning`)."""
    if kind == "sendgrid":
        from newsletter.delivery.sendgrid import SendGridBackend

        return SendGridBackend.max_batch
    if kind == "smtp":
        from newsletter.delivery.smtp import SmtpBackend

        return SmtpBackend.max_batch
    from newsletter.delivery.outbox import OutboxBackend

    return OutboxBackend.max_batch
