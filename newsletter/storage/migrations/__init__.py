"""Alembic migrations: one revision per schema change (`newsletter db upgrade`)."""
