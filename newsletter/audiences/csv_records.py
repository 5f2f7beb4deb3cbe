"""CSV record splitting and the in-file duplicate table (main process of the CSV import).

`RecordReader` turns physical lines (at most 64 KB read at a time, so a 10 MB field never
sits in memory) into CSV records with the same quote state machine as the `csv` module
(`scan`), so a quoted field spanning lines is one record with the line number of its start;
unusable records (over-long, quote never closed) come out as (line, prefix, reason).
`SeenTable` remembers 8-byte keyed hashes of normalised addresses in a flat table
(≈ 24 MB for a million addresses instead of ≈ 100 MB for a set of strings). Both are plain
stdlib data structures that only the reading process uses, separate from the reader's
file checks (csv_header) and from the worker-side row parsing (csv_rows).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator
from typing import Any

MAX_ROW_BYTES = 64 * 1024

# --- quote state machine (same as the csv module, non-strict) -----------------------------

START, FIELD, QUOTED, QUOTE_IN_QUOTED = 0, 1, 2, 3


def scan(buf: Any, state: int, quote: Any, delim: Any) -> int:
    """The csv parser state after `buf` (bytes or str), starting in `state`.

    Newlines are ordinary characters here; a record ends at a newline unless in QUOTED.
    """
    i, n = 0, len(buf)
    while i < n:
        if state == START:
            if buf[i : i + 1] == quote:
                state, i = QUOTED, i + 1
            else:
                state = FIELD
        elif state == FIELD:
            d = buf.find(delim, i)
            if d < 0:
                return FIELD
            state, i = START, d + 1
        elif state == QUOTED:
            q = buf.find(quote, i)
            if q < 0:
                return QUOTED
            state, i = QUOTE_IN_QUOTED, q + 1
        else:  # just after a quote inside a quoted field
            c = buf[i : i + 1]
            if c == quote:
                state, i = QUOTED, i + 1
            elif c == delim:
                state, i = START, i + 1
            else:
                state = FIELD
    return state


# --- records --------------------------------------------------------------------------------


class RecordReader:
    """Physical lines from `readline` (bytes or str) → CSV records, resumable.

    `line` is the number of physical lines consumed so far; each `records()` generator
    starts there, so the header can be read with one generator and the rows with another.
    Until `use_delimiter` is called the delimiter is `,` and there is no one-line fast path.
    """

    def __init__(
        self, readline: Callable[[int], Any], *, text: bool, max_row_bytes: int = MAX_ROW_BYTES
    ):
        self._readline = readline
        self._max_row = max_row_bytes
        self._text = text
        self._quote: Any = '"' if text else b'"'
        self._newline: Any = "\n" if text else b"\n"
        self._delim: Any = "," if text else b","
        self._simple: Any = None
        self.line = 0

    def use_delimiter(self, delimiter: str, encoding: str) -> None:
        """Split on `delimiter` from now on (encoded with `encoding` when reading bytes)."""
        self._delim = delimiter if self._text else delimiter.encode(encoding)
        # One complete line of plain or well-quoted fields: the record ends with the line.
        d = re.escape(delimiter)
        field = rf'(?:"(?:[^"]|"")*"|[^"{d}\r\n]*)'
        simple = rf"{field}(?:{d}{field})*\r?\n"
        self._simple = re.compile(simple if self._text else simple.encode(encoding))

    def records(self) -> Iterator[tuple[Any, ...]]:
        """Yield (line, raw record) or (line, prefix, reason) for unusable records."""
        readline, quote, newline, delim = self._readline, self._quote, self._newline, self._delim
        simple = self._simple.fullmatch if self._simple is not None else (lambda _: None)
        max_row = self._max_row
        limit = max_row + 1
        line = self.line
        while True:
            piece = readline(limit)
            if not piece:
                return
            complete = piece[-1:] == newline
            if complete:
                line += 1
                if quote not in piece or simple(piece):  # the common case: a one-line record
                    self.line = line
                    yield (line, piece)
                    continue
            # A quoted field, an over-long line or a last line without newline.
            start = line if complete else line + 1
            size = len(piece)
            pieces: list[Any] | None = [piece] if size <= max_row else None
            prefix = piece[:2048]
            state = scan(piece, START, quote, delim)
            while not complete or state == QUOTED:
                piece = readline(limit)
                if not piece:
                    break
                complete = piece[-1:] == newline
                if complete:
                    line += 1
                size += len(piece)
                if pieces is not None:
                    if size > max_row:
                        pieces = None
                    else:
                        pieces.append(piece)
                state = scan(piece, state, quote, delim)
            if not complete:  # the file ends without a newline
                line += 1
            self.line = line
            span = f"lines {start}-{line}" if line > start else f"line {start}"
            if state == QUOTED:
                yield (start, prefix, f"a quoted field is never closed ({span}, end of file)")
            elif pieces is None:
                hint = "; is a quote left open?" if line > start else ""
                limit_text = f"{max_row // 1024} KB" if max_row >= 1024 else f"{max_row} bytes"
                yield (start, prefix, f"row longer than {limit_text} ({span}{hint})")
            else:
                yield (start, prefix[:0].join(pieces))


# --- duplicates -----------------------------------------------------------------------------


class SeenTable:
    """Open-addressing table of 8-byte address hashes → first line (12 bytes a slot)."""

    def __init__(self, capacity: int = 1 << 15):
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def add(self, key: int, line: int) -> int:
        """Record `key` at `line`; return 0 if new, else the line that had it first."""
        key = key or 1  # 0 marks an empty slot
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            k = keys[i]
            if k == 0:
                keys[i] = key
                self._lines[i] = line
                self._count += 1
                if self._count * 2 > mask:
                    self._grow()
                return 0
            if k == key:
                return self._lines[i]
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = zip(self._keys, self._lines, strict=True)
        capacity = (self._mask + 1) * 2
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        keys, lines, mask = self._keys, self._lines, self._mask
        for key, line in old:
            if key:
                i = key & mask
                while keys[i]:
                    i = (i + 1) & mask
                keys[i] = key
                lines[i] = line
