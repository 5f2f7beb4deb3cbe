"""Article → email: Jinja2 + MJML compiled once per email, per-recipient values filled after."""
