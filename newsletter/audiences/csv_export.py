"""CSV export of subscribers: streaming, RFC 4180 quoting, formula injection defused.

Spreadsheets run a cell starting with `=`, `+`, `-` or `@` (and tab/CR variants) as a formula
(OWASP "CSV injection"; Symfony CVE-2021-41270), so `safe_cell` prefixes such cells with `'`.
Cells that already start with apostrophes followed by such a character get one more, so the
import (csv_import) can undo exactly one and every value survives an export → import round trip.

Open the output with `newline=""` and, for Excel, `encoding="utf-8-sig"` (UTF-8 with BOM),
or use `export_subscribers_csv`, which does both.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from newsletter.audiences.attributes import AttributeSpec, stored_value

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MULTI_VALUE_SEPARATOR = "|"
_NEEDS_PREFIX = re.compile(r"'*[=+\-@\t\r]")


def safe_cell(value: object) -> str:
    """The text of one cell, with a `'` prefix when a spreadsheet would read it as a formula.

    None → "", booleans → true/false, dates → ISO 8601, lists/tuples/sets → values joined
    with `|`.
    """
    text = _text(value)
    if _NEEDS_PREFIX.match(text):
        return "'" + text
    return text


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return MULTI_VALUE_SEPARATOR.join(_text(item) for item in items)
    return str(value)


def attribute_cell(spec: AttributeSpec | None, value: object) -> str:
    """A stored attribute value as the import reads it back (before formula protection):
    booleans `true`/`false`, whole numbers without `.0`, dates ISO 8601."""
    return _text(stored_value(spec, value))


def write_subscribers_csv(
    rows: Iterable[Mapping[str, object]], out: TextIO, columns: list[str]
) -> int:
    """Write a header and one line per row (missing keys → empty cells); return the row count.

    Streams: rows are consumed one at a time, nothing is held in memory.
    """
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(column) for column in columns])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in columns])
        count += 1
    return count


def export_subscribers_csv(
    path: Path, rows: Iterable[Mapping[str, object]], columns: list[str]
) -> int:
    """`write_subscribers_csv` to a new file in UTF-8 with BOM (what Excel expects)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        return write_subscribers_csv(rows, out, columns)
