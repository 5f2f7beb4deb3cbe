"""Run the Alembic migrations and refuse to work on a database whose schema is outdated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from newsletter.errors import ConfigurationError
from newsletter.storage.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_FIX = "run `newsletter db upgrade`"


class SchemaOutdated(ConfigurationError):
    """The database exists but its schema is not the one this version of the code expects."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return heads[0]


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
        conn.rollback()
    return heads[0] if heads else None


def upgrade(
    db: Database, revision: str = "head", *, key_ring: object | None = None
) -> tuple[str | None, str]:
    """Migrate to `revision`; returns (before, after). `key_ring` (a `keys.KeyRing`) lets a
    migration re-hash stored addresses (0006 re-normalises them); without it such a
    migration refuses to run on a database holding addresses."""
    before = current_revision(db)
    _migrate(db, command.upgrade, revision, key_ring=key_ring)
    return before, current_revision(db) or ""


def downgrade(db: Database, revision: str) -> None:
    """Migrate down to `revision` (tests, and an operator undoing an upgrade)."""
    _migrate(db, command.downgrade, revision)


def _migrate(
    db: Database,
    step: Callable[[Config, str], None],
    revision: str,
    *,
    key_ring: object | None = None,
) -> None:
    """Run Alembic in one transaction. On SQLite, foreign keys are off meanwhile (then
    checked): a migration that rebuilds a table (SQLite's way to alter a column) drops the
    old one, and with foreign keys on that drop would first delete every row that refers
    to it — ON DELETE CASCADE would empty a campaign's deliveries and batches."""
    config = alembic_config()
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a pragma, so outside any transaction (the driver is in autocommit)
            # A checked-out connection always has its driver connection (never None here).
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                config.attributes["key_ring"] = key_ring
                step(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"a migration left dangling references: {broken[:5]}")
        finally:
            if sqlite:
                # As above: the driver connection of a checked-out connection.
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def _is_empty(db: Database) -> bool:
    with db.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        conn.rollback()
    return not names


def ensure_schema(db: Database, *, create_if_empty: bool = True) -> None:
    """Raise SchemaOutdated unless the schema is at head.

    A brand-new empty SQLite file is migrated on the spot (the demo needs no extra step);
    PostgreSQL and non-empty databases always need an explicit `newsletter db upgrade`.
    """
    current = current_revision(db)
    head = head_revision()
    if current == head:
        return
    url = db.engine.url.render_as_string(hide_password=True)
    if current is None and create_if_empty and db.dialect == "sqlite" and _is_empty(db):
        upgrade(db)
        return
    if current is None:
        raise SchemaOutdated(
            "the database has no newsletter schema yet", where=url, fix=UPGRADE_FIX
        )
    raise SchemaOutdated(
        f"the database schema is outdated (revision {current}, this version needs {head})",
        where=url,
        fix=UPGRADE_FIX + " (back up the database first)",
    )
