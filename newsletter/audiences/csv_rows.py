"""Worker side of the CSV import: parse, decode, validate and coerce one chunk of records.

`parse_chunk(plan, records)` is ~90 % of the import's work and runs in pool worker
processes (fork or forkserver), so it and `Plan`, the picklable description of which column
holds what, live here at module level with nothing but the row rules they need: email
validation, name and tag/topic limits, IANA time zones, attribute coercion, and undoing an
export's formula-defusing `'` prefix (csv_export.safe_cell). Results are plain tuples;
csv_import turns them into `ImportRow` / `Reject` and drops duplicates in the main process.
"""

from __future__ import annotations

import csv
import hashlib
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from newsletter.audiences.attributes import AttributeSpec, coerce
from newsletter.audiences.emails import MAX_EMAIL_LENGTH, legacy_form, validate_email

MAX_NAME_LENGTH = 200
MAX_VALUE_LENGTH = 100  # one tag or topic (tags.name / topics.name)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNESCAPE = re.compile(r"'+[=+\-@\t\r]")  # inverse of csv_export.safe_cell


@dataclass(frozen=True)
class Plan:
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


def parse_chunk(plan: Plan, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
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
                        f"{plan.time_zone[1]}: unknown time zone {short(raw_tz)!r} "
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
        row: tuple[Any, ...] = (line, email, first, last, tz, tags, topics, attrs,
                                int.from_bytes(key, "little"))  # fmt: skip
        if not raw_email.isascii() and legacy_form(raw_email) != email:
            row += (legacy_form(raw_email),)  # erasures made before NFKC hashed this form
        out.append(row)
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
            problems.append(f"{column[1]}: {short(value)!r} is longer than {MAX_VALUE_LENGTH}")
            return ()
        if _CONTROL.search(value):
            problems.append(f"{column[1]}: contains a line break or control character")
            return ()
        values[value] = None
    return tuple(values)


def _email_from_prefix(plan: Plan, data: Any) -> str:
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


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
