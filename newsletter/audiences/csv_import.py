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

How it works: after the open-time checks (csv_header), the main process splits the file
into CSV records (csv_records: at most 64 KB read at a time; a quoted field spanning lines is
one record, numbered by its first line), a process pool parses chunks of them (csv_rows: ~90 %
of the work, at most `MAX_IN_FLIGHT` chunks at a time) while the caller writes the previous
chunk, and results come back in file order with in-file duplicates dropped (SeenTable).

Rules (docs/audiences.md): header row with an `email` column
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
import io
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_export import safe_cell
from newsletter.audiences.csv_header import DELIMITERS as DELIMITERS
from newsletter.audiences.csv_header import (
    EXCEL_HINT,
    SAMPLE_BYTES,
    detect_encoding,
    encoding_label,
    map_header,
    sniff_delimiter,
)
from newsletter.audiences.csv_header import HEADER_ALIASES as HEADER_ALIASES
from newsletter.audiences.csv_records import MAX_ROW_BYTES as MAX_ROW_BYTES
from newsletter.audiences.csv_records import RecordReader, SeenTable
from newsletter.audiences.csv_rows import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from newsletter.audiences.csv_rows import MAX_VALUE_LENGTH as MAX_VALUE_LENGTH
from newsletter.audiences.csv_rows import parse_chunk
from newsletter.errors import ValidationError

MAX_FILE_BYTES = 100 * 1024 * 1024
CHUNK_BYTES = 2 * 1024 * 1024  # a chunk also ends at this much raw data
MAX_IN_FLIGHT = 4  # chunks submitted to the pool and not yet handed to the caller
POOL_MIN_BYTES = 256 * 1024  # smaller files (~2,000 rows) are read without a pool


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
    legacy_email: str | None = None  # the pre-NFKC form when it differs (erasure look-ups)


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
    max_row_bytes: int = MAX_ROW_BYTES,
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
        max_row_bytes=max_row_bytes,
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
        max_row_bytes: int = MAX_ROW_BYTES,
    ):
        self.path = Path(path)
        self._max_row = max_row_bytes
        self._where = str(self.path)
        self._attributes = dict(attributes)
        self._pool: ProcessPoolExecutor | None = None
        self._iterator: Iterator[list[ImportRow | Reject]] | None = None
        self._stream: io.TextIOWrapper | None = None
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
        encoding, skip = detect_encoding(sample, encoding, self._where)
        self._raw.seek(skip)
        self._text_mode = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
        if self._text_mode:
            self._stream = io.TextIOWrapper(
                self._raw, encoding=encoding, errors="replace", newline="\n"
            )
            self._reader = RecordReader(
                self._stream.readline, text=True, max_row_bytes=self._max_row
            )
        else:
            self._reader = RecordReader(self._raw.readline, text=False, max_row_bytes=self._max_row)
        self._encoding = encoding
        self._encoding_label = encoding_label(encoding)

        header_text, header_line = self._read_header_record()
        hint = EXCEL_HINT.fullmatch(header_text)
        if hint is not None:  # Excel's "sep=;" line names the delimiter
            delimiter = delimiter or hint.group(1)
            header_text, header_line = self._read_header_record()
        if delimiter is None:
            delimiter = sniff_delimiter(header_text)
        elif len(delimiter) != 1 or delimiter in '"\r\n':
            raise self._error(
                f"{delimiter!r} cannot be the delimiter (one character, not a quote or newline)",
                "use --delimiter ',' or ';' or a tab",
                line=None,
            )
        self._delimiter = delimiter
        self._reader.use_delimiter(delimiter, self._encoding)
        try:
            cells = next(csv.reader([header_text], delimiter=delimiter))
        except (csv.Error, StopIteration) as error:
            raise self._error(
                f"the header row is not valid CSV ({error})",
                "the first row must name the columns, e.g. email,first_name,last_name",
                line=header_line,
            ) from None
        columns, used, ignored, self._plan = map_header(
            cells,
            header_line,
            attributes=self._attributes,
            delimiter=delimiter,
            encoding=None if self._text_mode else self._encoding,
            encoding_label=self._encoding_label,
            where=self._where,
        )
        label = self._encoding_label
        self.header = CsvHeader(
            columns, used, ignored, line=header_line, delimiter=delimiter, encoding=label
        )

    def _read_header_record(self) -> tuple[str, int]:
        """The first non-blank record, decoded, and its line number."""
        for record in self._reader.records():
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

    def _error(self, message: str, fix: str, *, line: int | None) -> ValidationError:
        where = self._where if line is None else f"{self._where}:{line}"
        return ValidationError(message, where=where, fix=fix)

    # -- records -----------------------------------------------------------------------------

    def _batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        nbytes = 0
        tell = self._raw.tell
        for record in self._reader.records():
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
        seen = SeenTable()
        plan = self._plan
        batches = self._batches(size)
        if self.workers == 1:
            for batch in batches:
                yield _finish(parse_chunk(plan, batch), seen)
            return
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context())
        self._pool = pool
        pending: deque[Future[list[tuple[Any, ...]]]] = deque()
        try:
            for batch in batches:
                pending.append(pool.submit(parse_chunk, plan, batch))
                if len(pending) >= MAX_IN_FLIGHT:
                    yield _finish(_parsed(pending.popleft()), seen)
            while pending:
                yield _finish(_parsed(pending.popleft()), seen)
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


def _parsed(future: Future[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """A worker's parsed chunk; a worker that died (killed, out of memory) becomes a clear
    error. Chunks already written stay written: a rerun of the same import resumes."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise ValidationError(
            "a CSV reader process died while parsing the file (killed, or out of memory); "
            "everything imported so far is saved",
            fix="run the same import command again: it resumes after the last saved row",
        ) from None


def _finish(results: list[tuple[Any, ...]], seen: SeenTable) -> list[ImportRow | Reject]:
    """Results of `parse_chunk` → objects, dropping in-file duplicates (main process)."""
    out: list[ImportRow | Reject] = []
    append, add = out.append, seen.add
    for result in results:
        if len(result) >= 9:
            line, email, first, last, tz, tags, topics, attrs, key = result[:9]
            first_line = add(key, line)
            if first_line:
                append(Reject(line, f"duplicate of line {first_line}", email))
            else:
                legacy = result[9] if len(result) > 9 else None
                append(ImportRow(line, email, first, last, tz, tags, topics, attrs, legacy))
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


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
