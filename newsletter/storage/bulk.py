"""Fast set-based writes and lookups for imports: one code path, two dialect strategies.

SQLAlchemy's per-row parameter handling costs ~20 µs a row, more than the databases need.
Here statements are still built with SQLAlchemy Core, but rows are handed to the driver in
bulk: SQLite gets one `executemany` with pre-converted tuples; PostgreSQL gets a `COPY` into
a transaction-scoped temporary table and one `INSERT … SELECT … ON CONFLICT` from it, in
COPY's binary format when every column's type is known (text COPY of a datetime costs ~4 µs,
binary ~0.1 µs).
Lookups pass a whole list as ONE parameter (a PostgreSQL array, a SQLite json_each table)
instead of thousands of bound values.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import NullType

_temp_names = itertools.count()
COPY_THRESHOLD = 200


class _BinaryList(list):
    """A list parameter that psycopg sends as a binary array: its text format quotes and
    escapes every element (~5 µs a string, 25 ms for a chunk of 5,000 addresses)."""


psycopg.adapters.register_dumper(_BinaryList, ListBinaryDumper)


def lookup(conn: Connection, query_for: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    """Run `query_for(condition)` where condition is `column IN values` (one parameter)."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        if column.type._cached_bind_processor(conn.dialect) is None:  # str, int: sent as-is
            parameter = bindparam(None, _BinaryList(values), type_=NullType())
        else:
            parameter = bindparam(None, list(values), type_=ARRAY(column.type))  # type: ignore[arg-type]  # SQLAlchemy's stub wants a Python type; ARRAY(...) is the documented use
        condition = column == any_(parameter)
    else:
        rows = func.json_each(json.dumps(list(values), default=str)).table_valued("value")
        condition = column.in_(select(rows.c.value))
    return list(conn.execute(query_for(condition)).all())


def driver_rows(conn: Connection, statement: Any) -> list[tuple]:
    """All rows of `statement` as the driver returns them: plain tuples, no SQLAlchemy `Row`s
    and no result type processing (half the cost per row: an export reads ~5 rows a person).
    Ints, strings and floats come back alike from both databases; dates and datetimes do not
    (SQLite: their stored ISO text; PostgreSQL: objects), so the caller must accept both."""
    result = conn.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """Primary keys for `count` new rows of `table`, so a bulk insert needs no read-back.

    PostgreSQL: from the id column's sequence. SQLite: max + 1, max + 2, … — exactly what
    SQLite would assign (tables here have no AUTOINCREMENT); the caller is inside a write
    transaction (BEGIN IMMEDIATE), so nobody else can take them first.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        statement = (
            "SELECT nextval(pg_get_serial_sequence(%(table)s, 'id')) FROM generate_series(1, %(n)s)"
        )
        rows = conn.exec_driver_sql(statement, {"table": table.name, "n": count}).all()
        return [row[0] for row in rows]
    if table.dialect_options["sqlite"]["autoincrement"]:
        raise ValueError(f"{table.name}: AUTOINCREMENT tables keep their own counter")
    top: int = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + count))


def _processors(conn: Connection, table: Table, columns: Sequence[str]) -> list[Any]:
    dialect = conn.dialect
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def _convert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> Sequence[tuple[Any, ...]]:
    """Apply each column's bind processor once per distinct value, column-wise (chunks repeat
    `now` and a few dates, so this is a set, a small dict and a C-level map per column)."""
    processors = _processors(conn, table, columns)
    if all(p is None for p in processors):
        return rows
    transposed = list(zip(*rows, strict=True))
    for i, processor in enumerate(processors):
        if processor is not None:
            mapping = {v: None if v is None else processor(v) for v in set(transposed[i])}
            transposed[i] = tuple(map(mapping.__getitem__, transposed[i]))
    return list(zip(*transposed, strict=True))


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
            pg_insert = postgresql.insert(table)
            if ignore_conflicts:
                pg_insert = pg_insert.on_conflict_do_nothing()
            conn.execute(pg_insert, [dict(zip(columns, row, strict=True)) for row in rows])
        else:
            values = _convert(conn, table, columns, rows)
            _copy_insert(conn, table, columns, values, ignore_conflicts)
        return
    values = _convert(conn, table, columns, rows)
    statement = sqlite.insert(table)
    if ignore_conflicts:
        statement = statement.on_conflict_do_nothing()
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(columns))
    order = [columns.index(key) for key in compiled.positiontup or ()]
    if order != list(range(len(columns))):  # SQLAlchemy lists columns in table order
        values = list(map(operator.itemgetter(*order), values))  # ≥ 2 columns here
    conn.exec_driver_sql(str(compiled), values)


# Binary COPY type of each column type, most specific class first (BigInteger is an Integer).
_BINARY_TYPES: tuple[tuple[type, str], ...] = (
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (String, "text"),  # also varchar(n): same binary form, and the length is still checked
    (Date, "date"),
    (Float, "float8"),
    (Boolean, "bool"),
)


def _binary_types(table: Table, columns: Sequence[str]) -> list[str] | None:
    """PostgreSQL type names for a binary COPY of these columns, or None if one is unknown."""
    names = []
    for name in columns:
        type_ = table.c[name].type
        impl = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
        if isinstance(impl, DateTime):
            names.append("timestamptz" if impl.timezone else "timestamp")
            continue
        found = next((pg for cls, pg in _BINARY_TYPES if isinstance(impl, cls)), None)
        if found is None:
            return None
        names.append(found)
    return names


def _copy_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    values: Sequence[tuple[Any, ...]],
    ignore_conflicts: bool,
) -> None:
    """COPY straight into the table, or via a temporary table when conflicts are skipped."""
    target = table
    if ignore_conflicts:
        target = Table(
            f"bulk_{table.name}_{next(_temp_names)}",
            MetaData(),
            *(Column(name, table.c[name].type) for name in columns),
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )
        target.create(conn)
    types = _binary_types(table, columns)
    driver = conn.connection.dbapi_connection
    assert driver is not None  # a checked-out connection always has one
    cursor = driver.cursor()
    copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")).format(
        pgsql.Identifier(target.name), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    )
    with cursor.copy(copy_sql) as copy:
        if types:
            copy.set_types(types)
        write = copy.write_row
        for row in values:
            write(row)
    cursor.close()
    if target is table:
        return
    statement = postgresql.insert(table).from_select(
        list(columns), select(*(target.c[name] for name in columns))
    )
    conn.execute(statement.on_conflict_do_nothing())
    target.drop(conn)


BULK_CACHE_KIB = 16_000


def bulk_transaction(conn: Connection) -> None:
    """Tune this write transaction for a bulk load (imports).

    PostgreSQL: don't wait for the WAL flush at commit; a crash may lose the last chunks,
    never corrupt them, and a rerun of the import redoes them. SQLite: a 16 MB page cache for
    the index inserts of a million-row import (2 MB: ~15 % slower; 32 MB: no faster than 16,
    19 MB more RSS — medians of 3 at 1M rows, 2026-11-28); it stays on this pooled
    connection (bulk jobs run in their own process), while every other connection keeps the
    small default (`database.SQLITE_CACHE_KIB`) that keeps the sending engine's memory flat.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    else:
        conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")


def skip_row_triggers(conn: Connection) -> bool:
    """Skip PostgreSQL's per-row foreign-key triggers until this transaction ends, where this
    role may; return whether they are skipped (SQLite: never, its checks are cheap).

    Each trigger runs one `SELECT … FOR KEY SHARE` on the parent per inserted row, ~9 µs:
    over half of a million-row import's server time. Only for bulk writers that vouch for
    every reference themselves: each parent row they point at was inserted in the same
    transaction or locked `FOR KEY SHARE` by them, set-wise (`services/import_chunks.py`),
    which is what the triggers would have checked and locked. Allowed for superusers and,
    on PostgreSQL 15+, roles granted `SET ON PARAMETER session_replication_role`.
    """
    if conn.dialect.name != "postgresql":
        return False
    if (conn.dialect.server_version_info or (0,)) >= (15,):
        query = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
    else:
        query = "SELECT current_setting('is_superuser') = 'on'"
    allowed = bool(conn.exec_driver_sql(query).scalar())
    if allowed:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    return allowed


def refresh_statistics(conn: Connection, tables: Sequence[Table]) -> None:
    """Update planner statistics after a bulk load. Without this, PostgreSQL keeps planning
    for the empty tables it saw at the start of an import (sequential scans, slow FK checks)."""
    if conn.dialect.name == "postgresql":
        names = pgsql.SQL(", ").join(pgsql.Identifier(t.name) for t in tables)
        driver = conn.connection.dbapi_connection
        assert driver is not None  # a checked-out connection always has one
        cursor = driver.cursor()
        cursor.execute(pgsql.SQL("ANALYZE {}").format(names))
        cursor.close()
    else:
        conn.exec_driver_sql("PRAGMA analysis_limit = 1000")  # sampled: milliseconds, not seconds
        for table in tables:
            conn.exec_driver_sql(f'ANALYZE "{table.name}"')
