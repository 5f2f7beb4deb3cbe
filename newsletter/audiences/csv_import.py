"""Streaming subscriber CSV reader: constant memory, both cores, per-row rejects.

    with open_subscribers_csv(path, attributes=load_attributes(...)) as csv_file:
        print(csv_file.header.ignored)                 # undeclared columns, not stored
        for chunk in csv_file.chunks():                # lists of ImportRow | Reject, file order
            ...                                        # write chunk i while i+1.. are parsed
            progress(csv_file.bytes_read, csv_file.total_bytes)

Everything wrong with the file as a whole (missing, empty, too big, binary, not UTF-8 in the
first megabyte, no header, no email column, duplicate columns) raises `ValidationError` at
open, before anything is imported. Everything wrong with a row later on is a `Reject` naming
the row's first physical line and the column; nothing after open raises for bad data.

How it works: the main process reads physical lines (at most 64 KB at a time, so a 10 MB
field never sits in memory) and groups them into CSV records with the same quote state
machine as the `csv` module, so a quoted field spanning lines is one record with the line
number of its start. Chunks of raw records go to a process pool (parse, decode, validate
and coerce: ~90 % of the work), at most `MAX_IN_FLIGHT` at a time, while the caller
writes the previous chunk. Results come back in file order; the main process then drops
in-file duplicates using 8-byte keyed hashes of the normalised addresses in a flat table
(≈ 24 MB for a million addresses instead of ≈ 100 MB for a set of strings).

Rules (docs: reliability-security.md §3 "CSV import"): header row with an `email` column
(names are case/space/punctuation-insensitive: "E-mail", "Email Address", "First Name");
UTF-8 with or without BOM, UTF-16 with BOM, other encodings (cp1252) only when asked;
delimiter `,` `;` or tab, sniffed from the header (or an Excel `sep=;` first line) unless
given; tags/topics hold several values separated by `|` or `;` (only `|` in a `;` file);
limits: file 100 MB, row 64 KB, names 200 characters, email 254; values are trimmed and
otherwise kept verbatim (SQL, HTML: escaping is the job of whoever displays them); an
export's formula-defusing `'` prefix (csv_export.safe_cell) is removed again.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import multiprocessing
import os
import re
import secrets
import threading
import zoneinfo
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from newsletter.audiences.attributes import AttributeSpec, coerce
from newsletter.audiences.csv_export import safe_cell
from newsletter.audiences.emails import MAX_EMAIL_LENGTH, validate_email
from newsletter.errors import ValidationError

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_ROW_BYTES = 64 * 1024
MAX_NAME_LENGTH = 200
MAX_VALUE_LENGTH = 100  # one tag or topic (tags.name / topics.name)
CHUNK_BYTES = 2 * 1024 * 1024  # a chunk also ends at this much raw data
MAX_IN_FLIGHT = 4  # chunks submitted to the pool and not yet handed to the caller
POOL_MIN_BYTES = 256 * 1024  # smaller files (~2,000 rows) are read without a pool
SAMPLE_BYTES = 1024 * 1024  # checked for binary data and encoding at open
DELIMITERS = (",", ";", "\t")

#: Header names (lowercase, punctuation → "_") → built-in field.
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "email",
            "e_mail",
            "email_address",
            "e_mail_address",
            "emailaddress",
            "mail",
            "e_mail_adresse",
            "emailadresse",
            "courriel",
            "adresse_e_mail",
            "correo",
            "correo_electronico",
        ),
        "email",
    ),
    **dict.fromkeys(
        ("first_name", "firstname", "first", "given_name", "givenname", "forename"), "first_name"
    ),
    **dict.fromkeys(
        ("last_name", "lastname", "last", "surname", "family_name", "familyname"), "last_name"
    ),
    **dict.fromkeys(("time_zone", "timezone", "tz"), "time_zone"),
    **dict.fromkeys(("tags", "tag"), "tags"),
    **dict.fromkeys(("topics", "topic", "interests"), "topics"),
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNESCAPE = re.compile(r"'+[=+\-@\t\r]")  # inverse of csv_export.safe_cell
_EXCEL_HINT = re.compile(r"sep=(.)\r?\n?")


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    email: str  # normalised (emails.normalize_email)
    first_name: str | None
    last_name: str | None
    time_zone: str | None  # canonical IANA name
    tags: tuple[str, ...]
    topics: tuple[str, ...]
    attributes: dict[str, object]  # declared attributes with a value, coerced to their type


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    reason: str  # "<column as written>: <why>", "duplicate of line N", ...
    email: str  # the email cell as written ('' if none)


@dataclass
class CsvHeader:
    columns: list[str]  # header cells as written (trimmed)
    used: list[str]  # field names read: email, first_name, ..., declared attribute names
    ignored: list[str]  # header cells of undeclared columns: reported, not stored
    line: int = 1  # physical line of the header
    delimiter: str = ","
    encoding: str = "UTF-8"


def open_subscribers_csv(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    attributes: Mapping[str, AttributeSpec],
    workers: int | None = None,
    max_bytes: int | None = MAX_FILE_BYTES,
) -> SubscriberCsv:
    """Open and check a subscriber CSV; raises `ValidationError` for a file that cannot work.

    `workers`: processes that parse and validate (None: 2 for files ≥ 256 KB when there are
    two cores, else 1 = in-process, no pool). `max_bytes`: size limit (None: no limit).
    """
    return SubscriberCsv(
        path,
        encoding=encoding,
        delimiter=delimiter,
        attributes=attributes,
        workers=workers,
        max_bytes=max_bytes,
    )


def write_rejects(path: Path, rejects: Iterable[Reject]) -> int:
    """Write rejects as CSV (line, email, reason; UTF-8 with BOM, formula-safe); return count."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["line", "email", "reason"])
        for reject in rejects:
            writer.writerow([reject.line, safe_cell(reject.email), safe_cell(reject.reason)])
            count += 1
    return count


# --- the reader ---------------------------------------------------------------------------


class SubscriberCsv:
    """An open subscriber CSV (context manager). Use `open_subscribers_csv`."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None,
        delimiter: str | None,
        attributes: Mapping[str, AttributeSpec],
        workers: int | None,
        max_bytes: int | None,
    ):
        self.path = Path(path)
        self._where = str(self.path)
        self._attributes = dict(attributes)
        self._pool: ProcessPoolExecutor | None = None
        self._iterator: Iterator[list[ImportRow | Reject]] | None = None
        self._stream: io.TextIOWrapper | None = None
        self._line = 0  # physical lines consumed so far
        self.bytes_read = 0
        try:
            self.total_bytes = self.path.stat().st_size
        except FileNotFoundError:
            raise ValidationError(
                "file not found", where=self._where, fix="check the path"
            ) from None
        except OSError as error:
            raise ValidationError(
                f"cannot read the file ({error.strerror})", where=self._where, fix="check it"
            ) from None
        if max_bytes is not None and self.total_bytes > max_bytes:
            raise ValidationError(
                f"the file is {_size(self.total_bytes)}; the import limit is {_size(max_bytes)}",
                where=self._where,
                fix="split it into smaller files and import them one after the other",
            )
        if workers is None:
            big = self.total_bytes >= POOL_MIN_BYTES and (os.cpu_count() or 1) >= 2
            workers = 2 if big else 1
        self.workers = max(1, workers)
        if not self.path.is_file():
            raise ValidationError(
                "not a file", where=self._where, fix="give the path of a .csv file"
            )
        try:
            self._raw: BinaryIO = self.path.open("rb")
        except OSError as error:
            raise ValidationError(
                f"cannot read the file ({error.strerror})", where=self._where, fix="check it"
            ) from None
        try:
            self._open(encoding, delimiter)
        except BaseException:
            if self._stream is not None:
                self._stream.close()
            self._raw.close()
            raise

    # -- open-time checks ------------------------------------------------------------------

    def _open(self, encoding: str | None, delimiter: str | None) -> None:
        if self.total_bytes == 0:
            raise self._error(
                "the file is empty", "export the subscribers again with a header row", line=None
            )
        sample = self._raw.read(SAMPLE_BYTES)
        self._raw.seek(0)
        encoding, skip = self._detect_encoding(sample, encoding)
        self._raw.seek(skip)
        self._text_mode = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
        if self._text_mode:
            self._stream = io.TextIOWrapper(
                self._raw, encoding=encoding, errors="replace", newline="\n"
            )
            self._readline = self._stream.readline
            self._quote: Any = '"'
            self._newline: Any = "\n"
            self._delim: Any = ","
            self._simple: Any = None
        else:
            self._readline = self._raw.readline
            self._quote = b'"'
            self._newline = b"\n"
            self._delim = b","
            self._simple = None
        self._encoding = encoding
        self._encoding_label = _encoding_label(encoding)

        header_text, header_line = self._read_header_record()
        hint = _EXCEL_HINT.fullmatch(header_text)
        if hint is not None:  # Excel's "sep=;" line names the delimiter
            delimiter = delimiter or hint.group(1)
            header_text, header_line = self._read_header_record()
        if delimiter is None:
            delimiter = _sniff_delimiter(header_text)
        elif len(delimiter) != 1 or delimiter in '"\r\n':
            raise self._error(
                f"{delimiter!r} cannot be the delimiter (one character, not a quote or newline)",
                "use --delimiter ',' or ';' or a tab",
                line=None,
            )
        self._delimiter = delimiter
        self._delim = delimiter if self._text_mode else delimiter.encode(self._encoding)
        # One complete line of plain or well-quoted fields: the record ends with the line.
        d = re.escape(delimiter)
        field = rf'(?:"(?:[^"]|"")*"|[^"{d}\r\n]*)'
        simple = rf"{field}(?:{d}{field})*\r?\n"
        self._simple = re.compile(simple if self._text_mode else simple.encode(self._encoding))
        try:
            cells = next(csv.reader([header_text], delimiter=delimiter))
        except (csv.Error, StopIteration) as error:
            raise self._error(
                f"the header row is not valid CSV ({error})",
                "the first row must name the columns, e.g. email,first_name,last_name",
                line=header_line,
            ) from None
        self.header = self._map_header(cells, header_line)

    def _detect_encoding(self, sample: bytes, encoding: str | None) -> tuple[str, int]:
        if sample.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise self._error(
                "this is a spreadsheet workbook or ZIP archive, not a CSV file",
                'in Excel use File → Save As → "CSV UTF-8 (Comma delimited)"',
                line=None,
            )
        for bom, name in _BOMS:
            if sample.startswith(bom):  # a byte-order mark is unambiguous: it wins
                return name, len(bom) if name == "utf-8" else 0
        if encoding is None:
            encoding = "utf-8"
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise self._error(
                f"unknown encoding {encoding!r}", "use utf-8 or cp1252", line=None
            ) from None
        if codec.name.startswith(("utf-16", "utf-32")):
            return codec.name, 0
        if 'a,;\t"\n'.encode(codec.name, "replace") != b'a,;\t"\n':
            raise self._error(
                f"encoding {encoding!r} is not supported",
                "save the file as UTF-8 (or use cp1252 / latin-1)",
                line=None,
            )
        nul = sample.find(b"\x00")
        if nul >= 0:
            if sample.count(b"\x00") * 4 > len(sample):
                raise self._error(
                    "the file looks like UTF-16 without a byte-order mark",
                    'save it again as "CSV UTF-8" (or UTF-16 with BOM)',
                    line=None,
                )
            raise self._error(
                "the file contains binary data (NUL bytes), it is not a text CSV",
                'export the subscribers as CSV (in Excel: Save As → "CSV UTF-8")',
                line=sample.count(b"\n", 0, nul) + 1,
            )
        if codec.name == "utf-8":
            self._check_utf8(sample)
        if b"\r" in sample and b"\n" not in sample[:MAX_ROW_BYTES]:
            raise self._error(
                "the file uses old Mac line endings (CR only)",
                "save it again as 'CSV UTF-8' (Windows or Unix line endings)",
                line=None,
            )
        return codec.name, 0

    def _check_utf8(self, sample: bytes) -> None:
        """Fail fast when the first megabyte is not UTF-8 (decoded 64 KB at a time)."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(sample)
        for offset in range(0, len(sample), MAX_ROW_BYTES):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(view[offset : offset + MAX_ROW_BYTES])
            except UnicodeDecodeError as error:
                position = max(offset - pending + error.start, 0)
                bad = sample[position : position + 1].hex()
                raise self._error(
                    f"the file is not UTF-8 (byte 0x{bad} cannot be decoded)",
                    "if Excel saved it as plain 'CSV', pass --encoding cp1252; "
                    "or save it again as 'CSV UTF-8'",
                    line=sample.count(b"\n", 0, position) + 1,
                ) from None
        if len(sample) < SAMPLE_BYTES:  # the whole file: it must not end mid-character
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise self._error(
                    "the file is not UTF-8 (it ends in the middle of a character)",
                    "if Excel saved it as plain 'CSV', pass --encoding cp1252",
                    line=sample.count(b"\n") + 1,
                ) from None

    def _read_header_record(self) -> tuple[str, int]:
        """The first non-blank record, decoded, and its line number."""
        for record in self._records():
            line, data = record[0], record[1]
            if len(record) == 3:  # oversize or unterminated
                raise self._error(
                    f"the header row is not usable ({record[2]})",
                    "the first row must name the columns, e.g. email,first_name,last_name",
                    line=line,
                )
            text = data if isinstance(data, str) else data.decode(self._encoding, "replace")
            if text.strip(" \t\r\n,;"):
                return text, line
        raise self._error(
            "the file has no header row (only blank lines)",
            "the first row must name the columns, e.g. email,first_name,last_name",
            line=None,
        )

    def _map_header(self, cells: list[str], line: int) -> CsvHeader:
        columns = [cell.strip() for cell in cells]
        fields: dict[str, list[int]] = {}
        used: list[str] = []
        ignored: list[str] = []
        for index, column in enumerate(columns):
            if not column:
                ignored.append(f"(unnamed column {index + 1})")
                continue
            key = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
            name = HEADER_ALIASES.get(key) or (key if key in self._attributes else None)
            fields.setdefault(name or "\0" + key, []).append(index)
            if name is None:
                ignored.append(column)
            else:
                used.append(name)
        duplicates = [indexes for indexes in fields.values() if len(indexes) > 1]
        if duplicates:
            names = "; ".join(" and ".join(repr(columns[i]) for i in ix) for ix in duplicates)
            raise self._error(
                f"duplicate columns: {names}",
                "keep one column of each; rename or delete the others",
                line=line,
            )
        if "email" not in fields:
            looks_like_data = any("@" in column for column in columns)
            raise self._error(
                "no email column"
                + (
                    " (the first row looks like data: is the header row missing?)"
                    if looks_like_data
                    else f" (columns: {', '.join(repr(c) for c in columns if c) or 'none'})"
                ),
                "the first row must name the columns and one of them must be `email`, "
                "e.g. email,first_name,last_name",
                line=line,
            )
        delimiter = self._delimiter
        index = {name: ix[0] for name, ix in fields.items() if not name.startswith("\0")}

        def column(name: str) -> tuple[int, str] | None:
            return (index[name], _short(columns[index[name]], 60)) if name in index else None

        self._plan = _Plan(
            encoding=None if self._text_mode else self._encoding,
            encoding_label=self._encoding_label,
            delimiter=delimiter,
            split_values=re.compile(r"\|" if delimiter == ";" else r"[|;]"),
            width=len(columns),
            email=column("email"),  # type: ignore[arg-type]
            first_name=column("first_name"),
            last_name=column("last_name"),
            time_zone=column("time_zone"),
            tags=column("tags"),
            topics=column("topics"),
            attributes=tuple(
                (index[name], self._attributes[name], _short(columns[index[name]], 60))
                for name in self._attributes
                if name in index
            ),
            hash_key=secrets.token_bytes(16),
        )
        return CsvHeader(
            columns, used, ignored, line=line, delimiter=delimiter, encoding=self._encoding_label
        )

    def _error(self, message: str, fix: str, *, line: int | None) -> ValidationError:
        where = self._where if line is None else f"{self._where}:{line}"
        return ValidationError(message, where=where, fix=fix)

    # -- records -----------------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[Any, ...]]:
        """Yield (line, raw record) or (line, prefix, reason) for unusable records."""
        readline, quote, newline, delim = self._readline, self._quote, self._newline, self._delim
        simple = self._simple.fullmatch if self._simple is not None else (lambda _: None)
        limit = MAX_ROW_BYTES + 1
        line = self._line
        while True:
            piece = readline(limit)
            if not piece:
                return
            complete = piece[-1:] == newline
            if complete:
                line += 1
                if quote not in piece or simple(piece):  # the common case: a one-line record
                    self._line = line
                    yield (line, piece)
                    continue
            # A quoted field, an over-long line or a last line without newline.
            start = line if complete else line + 1
            size = len(piece)
            pieces: list[Any] | None = [piece] if size <= MAX_ROW_BYTES else None
            prefix = piece[:2048]
            state = _scan(piece, _START, quote, delim)
            while not complete or state == _QUOTED:
                piece = readline(limit)
                if not piece:
                    break
                complete = piece[-1:] == newline
                if complete:
                    line += 1
                size += len(piece)
                if pieces is not None:
                    if size > MAX_ROW_BYTES:
                        pieces = None
                    else:
                        pieces.append(piece)
                state = _scan(piece, state, quote, delim)
            if not complete:  # the file ends without a newline
                line += 1
            self._line = line
            span = f"lines {start}-{line}" if line > start else f"line {start}"
            if state == _QUOTED:
                yield (start, prefix, f"a quoted field is never closed ({span}, end of file)")
            elif pieces is None:
                hint = "; is a quote left open?" if line > start else ""
                yield (start, prefix, f"row longer than 64 KB ({span}{hint})")
            else:
                yield (start, prefix[:0].join(pieces))

    def _batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        nbytes = 0
        tell = self._raw.tell
        for record in self._records():
            batch.append(record)
            nbytes += len(record[1])
            if len(batch) >= size or nbytes >= CHUNK_BYTES:
                self.bytes_read = tell()
                yield batch
                batch, nbytes = [], 0
        self.bytes_read = self.total_bytes
        if batch:
            yield batch

    # -- chunks ------------------------------------------------------------------------------

    def chunks(self, size: int = 5000) -> Iterator[list[ImportRow | Reject]]:
        """Rows and rejects in file order, at most `size` per list. Iterate once."""
        if self._iterator is not None:
            raise RuntimeError("chunks() can only be iterated once per open file")
        if size < 1:
            raise ValueError("size must be at least 1")
        self._iterator = self._chunks(size)
        return self._iterator

    def _chunks(self, size: int) -> Iterator[list[ImportRow | Reject]]:
        seen = _SeenTable()
        plan = self._plan
        batches = self._batches(size)
        if self.workers == 1:
            for batch in batches:
                yield _finish(_parse_chunk(plan, batch), seen)
            return
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context())
        self._pool = pool
        pending: deque[Future[list[tuple[Any, ...]]]] = deque()
        try:
            for batch in batches:
                pending.append(pool.submit(_parse_chunk, plan, batch))
                if len(pending) >= MAX_IN_FLIGHT:
                    yield _finish(pending.popleft().result(), seen)
            while pending:
                yield _finish(pending.popleft().result(), seen)
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._stream is not None:
            self._stream.close()
        self._raw.close()

    def __enter__(self) -> SubscriberCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _finish(results: list[tuple[Any, ...]], seen: _SeenTable) -> list[ImportRow | Reject]:
    """Results of `_parse_chunk` → objects, dropping in-file duplicates (main process)."""
    out: list[ImportRow | Reject] = []
    append, add = out.append, seen.add
    for result in results:
        if len(result) == 9:
            line, email, first, last, tz, tags, topics, attrs, key = result
            first_line = add(key, line)
            if first_line:
                append(Reject(line, f"duplicate of line {first_line}", email))
            else:
                append(ImportRow(line, email, first, last, tz, tags, topics, attrs))
        else:
            append(Reject(*result))
    return out


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork when this process has no other threads (fast, no re-import of __main__);
    forkserver otherwise, so workers never inherit locks held by other threads."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# --- quote state machine (same as the csv module, non-strict) -----------------------------

_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2, 3


def _scan(buf: Any, state: int, quote: Any, delim: Any) -> int:
    """The csv parser state after `buf` (bytes or str), starting in `state`.

    Newlines are ordinary characters here; a record ends at a newline unless in _QUOTED.
    """
    i, n = 0, len(buf)
    while i < n:
        if state == _START:
            if buf[i : i + 1] == quote:
                state, i = _QUOTED, i + 1
            else:
                state = _FIELD
        elif state == _FIELD:
            d = buf.find(delim, i)
            if d < 0:
                return _FIELD
            state, i = _START, d + 1
        elif state == _QUOTED:
            q = buf.find(quote, i)
            if q < 0:
                return _QUOTED
            state, i = _QUOTE_IN_QUOTED, q + 1
        else:  # just after a quote inside a quoted field
            c = buf[i : i + 1]
            if c == quote:
                state, i = _QUOTED, i + 1
            elif c == delim:
                state, i = _START, i + 1
            else:
                state = _FIELD
    return state


# --- duplicates -----------------------------------------------------------------------------


class _SeenTable:
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


# --- worker side: parse and validate one chunk ---------------------------------------------


@dataclass(frozen=True)
class _Plan:
    encoding: str | None  # None: records arrive as str (UTF-16 files are decoded while read)
    encoding_label: str
    delimiter: str
    split_values: re.Pattern[str]
    width: int
    email: tuple[int, str]
    first_name: tuple[int, str] | None
    last_name: tuple[int, str] | None
    time_zone: tuple[int, str] | None
    tags: tuple[int, str] | None
    topics: tuple[int, str] | None
    attributes: tuple[tuple[int, AttributeSpec, str], ...]
    hash_key: bytes = field(repr=False)


_ZONES: dict[str, str] = {}


def _zones() -> dict[str, str]:
    if not _ZONES:
        _ZONES.update({name.lower(): name for name in zoneinfo.available_timezones()})
    return _ZONES


def _time_zone(name: str) -> str | None:
    """The canonical IANA name (any case), or None if unknown."""
    zones = _zones()
    if zones:
        return zones.get(name.lower())
    try:  # no listable tz database (e.g. Windows without tzdata): ask zoneinfo itself
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def _parse_chunk(plan: _Plan, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Raw records → (line, email, first, last, tz, tags, topics, attributes, hash) for good
    rows, (line, reason, email cell) for rejects; blank rows are dropped. Runs in a worker."""
    out: list[tuple[Any, ...]] = []
    encoding, delimiter = plan.encoding, plan.delimiter
    email_index, email_column = plan.email
    width = plan.width
    # Equal values share one object within a chunk: pickle then sends each once, which
    # makes unpickling in the main process ~3× cheaper (dates are especially costly).
    strings: dict[str, str] = {}
    tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
    coerced: dict[tuple[str, str], object] = {}
    for record in records:
        line, data = record[0], record[1]
        if len(record) == 3:
            out.append((line, record[2], _email_from_prefix(plan, data)))
            continue
        if encoding is None:
            text = data
            if "\ufffd" in text:
                reason = f"not valid {plan.encoding_label} text"
                out.append((line, reason, _email_from_prefix(plan, text)))
                continue
        else:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                fix = " (use --encoding cp1252 for files saved by Excel as plain CSV)"
                label = plan.encoding_label
                reason = f"not valid {label}{fix if label == 'UTF-8' else ''}"
                out.append((line, reason, _email_from_prefix(plan, data)))
                continue
        if "\x00" in text:
            out.append((line, "contains a NUL byte (binary data)", ""))
            continue
        body = text.rstrip("\r\n")
        if '"' not in body and "\r" not in body:
            cells = body.split(delimiter)
        else:
            try:
                cells = next(csv.reader((text,), delimiter=delimiter))
            except (csv.Error, StopIteration) as error:
                out.append((line, f"not valid CSV ({error})", ""))
                continue
        if len(cells) < width:
            cells.extend([""] * (width - len(cells)))
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            raw = cells[email_index].strip()
            out.append((line, f"{len(cells)} cells but the header has {width} columns", raw))
            continue
        if not any(cells):
            continue
        raw_email = _unescape(cells[email_index].strip())
        if not raw_email and not any(c.strip() for c in cells):
            continue  # blank row
        problems: list[str] = []
        email = ""
        if not raw_email:
            problems.append(f"{email_column}: missing address")
        else:
            try:
                email = validate_email(raw_email)
            except ValueError as error:
                problems.append(f"{email_column}: {error}")
        first = _name(cells, plan.first_name, problems)
        if first is not None:
            first = strings.setdefault(first, first)
        last = _name(cells, plan.last_name, problems)
        if last is not None:
            last = strings.setdefault(last, last)
        tz = None
        if plan.time_zone is not None:
            raw_tz = _unescape(cells[plan.time_zone[0]].strip())
            if raw_tz:
                tz = _time_zone(raw_tz)
                if tz is None:
                    problems.append(
                        f"{plan.time_zone[1]}: unknown time zone {_short(raw_tz)!r} "
                        "(use an IANA name such as America/New_York)"
                    )
        tags = _values(cells, plan.tags, plan.split_values, problems)
        tags = tuples.setdefault(tags, tags)
        topics = _values(cells, plan.topics, plan.split_values, problems)
        topics = tuples.setdefault(topics, topics)
        attrs: dict[str, object] = {}
        for index, spec, column in plan.attributes:
            value = _unescape(cells[index].strip())
            if value:
                memo_key = (spec.name, value)
                result = coerced.get(memo_key, coerced)
                if result is coerced:
                    try:
                        result = coerced[memo_key] = coerce(spec, value)
                    except ValueError as error:
                        problems.append(f"{column}: {error}")
                        continue
                attrs[spec.name] = result
        if problems:
            out.append((line, "; ".join(problems), raw_email[:320]))
            continue
        key = hashlib.blake2b(email.encode(), digest_size=8, key=plan.hash_key).digest()
        out.append(
            (line, email, first, last, tz, tags, topics, attrs, int.from_bytes(key, "little"))
        )
    return out


def _unescape(value: str) -> str:
    """Undo csv_export.safe_cell's formula prefix (exactly one `'`)."""
    if value[:1] == "'" and _UNESCAPE.match(value):
        return value[1:]
    return value


def _name(cells: list[str], column: tuple[int, str] | None, problems: list[str]) -> str | None:
    if column is None:
        return None
    value = _unescape(cells[column[0]].strip())
    if not value:
        return None
    if len(value) > MAX_NAME_LENGTH:
        problems.append(f"{column[1]}: longer than {MAX_NAME_LENGTH} characters")
    elif _CONTROL.search(value):
        problems.append(f"{column[1]}: contains a line break or control character")
    return value


def _values(
    cells: list[str],
    column: tuple[int, str] | None,
    split: re.Pattern[str],
    problems: list[str],
) -> tuple[str, ...]:
    if column is None:
        return ()
    cell = cells[column[0]].strip()
    if not cell:
        return ()
    values: dict[str, None] = {}
    for part in split.split(cell):
        value = _unescape(part.strip())
        if not value:
            continue
        if len(value) > MAX_VALUE_LENGTH:
            problems.append(f"{column[1]}: {_short(value)!r} is longer than {MAX_VALUE_LENGTH}")
            return ()
        if _CONTROL.search(value):
            problems.append(f"{column[1]}: contains a line break or control character")
            return ()
        values[value] = None
    return tuple(values)


def _email_from_prefix(plan: _Plan, data: Any) -> str:
    """The email cell of an unusable record, if its first bytes contain it."""
    text = data if isinstance(data, str) else data.decode(plan.encoding or "utf-8", "replace")
    try:
        cells = next(csv.reader((text.split("\n", 1)[0],), delimiter=plan.delimiter))
    except (csv.Error, StopIteration):
        return ""
    index = plan.email[0]
    if index < len(cells) and len(cells[index]) <= MAX_EMAIL_LENGTH:
        return cells[index].strip()
    return ""


# --- helpers -------------------------------------------------------------------------------


def _sniff_delimiter(header: str) -> str:
    """The delimiter the header uses most (outside quotes); `,` when there is none."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _encoding_label(name: str) -> str:
    name = codecs.lookup(name).name
    return {"utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "cp1252"}.get(name, name)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
