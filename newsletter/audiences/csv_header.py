"""Open-time checks of a subscriber CSV: encoding, delimiter, header row → column plan.

Everything wrong with the file as a whole is found here, before any row is read: binary
data and workbooks, undecodable text in the first megabyte, unknown or unsupported
encodings, old Mac line endings, duplicate columns and a missing email column (each a
`ValidationError` naming the file and line). The delimiter is sniffed from the header
unless given, header names are matched case/space/punctuation-insensitively against
`HEADER_ALIASES` and the declared attributes, and the result is the `Plan` the workers
follow. Separate from csv_import so the reader there only orchestrates reading.
"""

from __future__ import annotations

import codecs
import re
import secrets
from collections.abc import Mapping

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_records import MAX_ROW_BYTES
from newsletter.audiences.csv_rows import Plan, short
from newsletter.errors import ValidationError

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
EXCEL_HINT = re.compile(r"sep=(.)\r?\n?")  # Excel's first line naming the delimiter


def detect_encoding(sample: bytes, encoding: str | None, where: str) -> tuple[str, int]:
    """(codec name, bytes of BOM to skip); raises `ValidationError` for binary or
    undecodable data and encodings the reader cannot split into lines."""
    if sample.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _error(
            where,
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
        raise _error(
            where, f"unknown encoding {encoding!r}", "use utf-8 or cp1252", line=None
        ) from None
    if codec.name.startswith(("utf-16", "utf-32")):
        return codec.name, 0
    if 'a,;\t"\n'.encode(codec.name, "replace") != b'a,;\t"\n':
        raise _error(
            where,
            f"encoding {encoding!r} is not supported",
            "save the file as UTF-8 (or use cp1252 / latin-1)",
            line=None,
        )
    nul = sample.find(b"\x00")
    if nul >= 0:
        if sample.count(b"\x00") * 4 > len(sample):
            raise _error(
                where,
                "the file looks like UTF-16 without a byte-order mark",
                'save it again as "CSV UTF-8" (or UTF-16 with BOM)',
                line=None,
            )
        raise _error(
            where,
            "the file contains binary data (NUL bytes), it is not a text CSV",
            'export the subscribers as CSV (in Excel: Save As → "CSV UTF-8")',
            line=sample.count(b"\n", 0, nul) + 1,
        )
    if codec.name == "utf-8":
        _check_utf8(sample, where)
    if b"\r" in sample and b"\n" not in sample[:MAX_ROW_BYTES]:
        raise _error(
            where,
            "the file uses old Mac line endings (CR only)",
            "save it again as 'CSV UTF-8' (Windows or Unix line endings)",
            line=None,
        )
    return codec.name, 0


def _check_utf8(sample: bytes, where: str) -> None:
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
            raise _error(
                where,
                f"the file is not UTF-8 (byte 0x{bad} cannot be decoded)",
                "if Excel saved it as plain 'CSV', pass --encoding cp1252; "
                "or save it again as 'CSV UTF-8'",
                line=sample.count(b"\n", 0, position) + 1,
            ) from None
    if len(sample) < SAMPLE_BYTES:  # the whole file: it must not end mid-character
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _error(
                where,
                "the file is not UTF-8 (it ends in the middle of a character)",
                "if Excel saved it as plain 'CSV', pass --encoding cp1252",
                line=sample.count(b"\n") + 1,
            ) from None


def map_header(
    cells: list[str],
    line: int,
    *,
    attributes: Mapping[str, AttributeSpec],
    delimiter: str,
    encoding: str | None,
    encoding_label: str,
    where: str,
) -> tuple[list[str], list[str], list[str], Plan]:
    """Header cells → (columns as written, fields used, columns ignored, plan).

    `encoding` is None when records are read as text (UTF-16/32), else the bytes' codec.
    Raises `ValidationError` for duplicate columns or a missing email column.
    """
    columns = [cell.strip() for cell in cells]
    fields: dict[str, list[int]] = {}
    used: list[str] = []
    ignored: list[str] = []
    for number, cell in enumerate(columns):
        if not cell:
            ignored.append(f"(unnamed column {number + 1})")
            continue
        key = re.sub(r"[^a-z0-9]+", "_", cell.lower()).strip("_")
        name = HEADER_ALIASES.get(key) or (key if key in attributes else None)
        fields.setdefault(name or "\0" + key, []).append(number)
        if name is None:
            ignored.append(cell)
        else:
            used.append(name)
    duplicates = [indexes for indexes in fields.values() if len(indexes) > 1]
    if duplicates:
        names = "; ".join(" and ".join(repr(columns[i]) for i in ix) for ix in duplicates)
        raise _error(
            where,
            f"duplicate columns: {names}",
            "keep one column of each; rename or delete the others",
            line=line,
        )
    if "email" not in fields:
        looks_like_data = any("@" in column for column in columns)
        raise _error(
            where,
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
    index = {name: ix[0] for name, ix in fields.items() if not name.startswith("\0")}

    def column(name: str) -> tuple[int, str] | None:
        return (index[name], short(columns[index[name]], 60)) if name in index else None

    plan = Plan(
        encoding=encoding,
        encoding_label=encoding_label,
        delimiter=delimiter,
        split_values=re.compile(r"\|" if delimiter == ";" else r"[|;]"),
        width=len(columns),
        email=(index["email"], short(columns[index["email"]], 60)),  # checked above
        first_name=column("first_name"),
        last_name=column("last_name"),
        time_zone=column("time_zone"),
        tags=column("tags"),
        topics=column("topics"),
        attributes=tuple(
            (index[name], attributes[name], short(columns[index[name]], 60))
            for name in attributes
            if name in index
        ),
        hash_key=secrets.token_bytes(16),
    )
    return columns, used, ignored, plan


def sniff_delimiter(header: str) -> str:
    """The delimiter the header uses most (outside quotes); `,` when there is none."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def encoding_label(name: str) -> str:
    name = codecs.lookup(name).name
    return {"utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "cp1252"}.get(name, name)


def _error(where: str, message: str, fix: str, *, line: int | None) -> ValidationError:
    return ValidationError(message, where=where if line is None else f"{where}:{line}", fix=fix)
