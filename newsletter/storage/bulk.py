"""Fast set-based writes and lookups for imports: one code path, two dialect strategies.

SQLAlchemy's per-row parameter handling costs ~20 µs a row, more than the databases need.
Here statements are still built with SQLAlchemy Core, but rows are handed to the driver in
bulk: SQLite gets one `executemany` with pre-converted tuples; PostgreSQL gets a `COPY` into
a transaction-scoped temporary table and one `INSERT … SELECT … ON CONFLICT` from it.
Lookups pass a whole list as ONE parameter (a PostgreSQL array, a SQLite json_each table)
instead of thousands of bound values.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql as pgsql
from sqlalchemy import (
    ARRAY,
    Column,
    Connection,
    MetaData,
    Table,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

_temp_names = itertools.count()
COPY_THRESHOLD = 200


def lookup(conn: Connection, query_for: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    """Run `query_for(condition)` where condition is `column IN values` (one parameter)."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        condition = column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    else:
        rows = func.json_each(json.dumps(list(values), default=str)).table_valued("value")
        condition = column.in_(select(rows.c.value))
    return conn.execute(query_for(condition)).all()


def _processors(conn: Connection, table: Table, columns: Sequence[str]) -> list[Any]:
    dialect = conn.dialect
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def _convert(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple]):
    """Apply each column's bind processor, memoised (chunks repeat `now`, list ids, etc.)."""
    processors = _processors(conn, table, columns)
    active = [(i, p, {}) for i, p in enumerate(processors) if p is not None]
    if not active:
        return [tuple(r) for r in rows]
    converted = []
    for row in rows:
        values = list(row)
        for i, processor, memo in active:
            value = values[i]
            if value is None:
                continue
            try:
                values[i] = memo[value]
            except KeyError:
                values[i] = memo[value] = processor(value)
            except TypeError:  # unhashable
                values[i] = processor(value)
        converted.append(tuple(values))
    return converted


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Insert many rows (tuples in `columns` order), optionally skipping conflicting ones."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        if len(rows) < COPY_THRESHOLD:  # a temporary table is not worth it for a few rows
            statement = postgresql.insert(table)
            if ignore_conflicts:
                statement = statement.on_conflict_do_nothing()
            conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])
        else:
            values = _convert(conn, table, columns, rows)
            _copy_insert(conn, table, columns, values, ignore_conflicts)
        return
    values = _convert(conn, table, columns, rows)
    statement = sqlite.insert(table)
    if ignore_conflicts:
        statement = statement.on_conflict_do_nothing()
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(columns))
    order = [columns.index(key) for key in compiled.positiontup]
    if order != list(range(len(columns))):
        values = [tuple(v[i] for i in order) for v in values]
    conn.exec_driver_sql(str(compiled), values)


def _copy_insert(conn, table, columns, values, ignore_conflicts) -> None:
    staging = Table(
        f"bulk_{table.name}_{next(_temp_names)}",
        MetaData(),
        *(Column(name, table.c[name].type) for name in columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    staging.create(conn)
    cursor = conn.connection.dbapi_connection.cursor()
    copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(staging.name), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    )
    with cursor.copy(copy_sql) as copy:
        for row in values:
            copy.write_row(row)
    cursor.close()
    statement = postgresql.insert(table).from_select(
        list(columns), select(*(staging.c[name] for name in columns))
    )
    if ignore_conflicts:
        statement = statement.on_conflict_do_nothing()
    conn.execute(statement)
    staging.drop(conn)
