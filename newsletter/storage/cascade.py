"""Deleting rows as their foreign keys say, when SQLite is not enforcing them.

Migrations run on SQLite with foreign keys off (storage/schema.py: rebuilding a table with
them on would cascade-delete its children), so a migration that deletes rows must apply
ON DELETE itself. This reads the rules from the live schema (`PRAGMA foreign_key_list`),
never from the application's table definitions, so it stays right for the schema the
migration actually runs against. On PostgreSQL the server applies them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def delete_cascading(conn: Connection, table: str, where: str, params: dict[str, Any]) -> None:
    """`DELETE FROM table WHERE where`, children first: CASCADE deletes them (recursively),
    SET NULL clears their reference. `table` and `where` are the caller's constants."""
    if conn.dialect.name == "sqlite":
        for child, column, parent_column, on_delete in _children(conn, table):
            match = f"{column} IN (SELECT {parent_column} FROM {table} WHERE {where})"  # noqa: S608
            if on_delete == "CASCADE":
                delete_cascading(conn, child, match, params)
            elif on_delete == "SET NULL":
                conn.execute(text(f"UPDATE {child} SET {column} = NULL WHERE {match}"), params)  # noqa: S608
    conn.execute(text(f"DELETE FROM {table} WHERE {where}"), params)  # noqa: S608


def _children(conn: Connection, parent: str) -> list[tuple[str, str, str, str]]:
    names: Any = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).scalars()
    found = []
    for name in list(names):
        for fk in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{name}")').mappings():
            if fk["table"] == parent:
                found.append((name, fk["from"], fk["to"], fk["on_delete"].upper()))
    return found
