"""Delivery backends behind one protocol: SendGrid (production), SMTP, and an outbox folder."""
