"""Alembic environment: uses the connection handed over by `newsletter db upgrade`,
or builds one from the settings when run as plain `alembic upgrade head`."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from newsletter.storage import sending_tables  # noqa: F401  (registers its tables)
from newsletter.storage.tables import UTCDateTime, metadata

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render custom column types as their storage type: migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from newsletter.config import load_settings
    from newsletter.storage.database import create_database_engine

    settings = load_settings()
    config.attributes.setdefault("key_ring", settings.key_ring)
    engine = create_database_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `newsletter db upgrade`")
run_migrations_online()
