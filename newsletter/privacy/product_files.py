"""Files the product writes that can name a person, purged at erasure where the product owns
them: the outbox folder (campaign, test and confirmation emails as `.eml`) and the rejects
reports imports wrote (recorded in `imports.rejects_path`). Exports and copies made by an
operator are theirs to purge (docs/privacy.md lists them).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

from newsletter.audiences.emails import normalize_email

_HEADER_BYTES = 64 * 1024


@dataclass
class PurgedFiles:
    emails: list[Path] = field(default_factory=list)  # .eml files deleted
    reports: list[Path] = field(default_factory=list)  # rejects reports rewritten


def purge_outbox(folder: Path, forms: Iterable[str]) -> list[Path]:
    """Delete every `.eml` in the outbox addressed to the person; returns the paths."""
    wanted = {normalize_email(form) for form in forms}
    deleted: list[Path] = []
    if not folder.is_dir():
        return deleted
    parser = BytesHeaderParser()
    for path in sorted(folder.glob("*.eml")):
        try:
            with path.open("rb") as handle:
                headers = parser.parsebytes(handle.read(_HEADER_BYTES))
        except OSError:
            continue
        recipients = {normalize_email(address) for _, address in getaddresses(
            headers.get_all("To", []) + headers.get_all("Cc", []))}  # fmt: skip
        if recipients & wanted:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def purge_rejects_report(path: Path, forms: Iterable[str]) -> bool:
    """Rewrite a rejects report without the person's rows (atomically); True if changed."""
    wanted = {normalize_email(form) for form in forms}
    try:
        original = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    rows = list(csv.reader(io.StringIO(original, newline="")))
    kept = [row for row in rows if not _names_person(row, wanted)]
    if len(kept) == len(rows):
        return False
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(kept)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8-sig")
    os.replace(temporary, path)
    return True


def _names_person(row: list[str], wanted: set[str]) -> bool:
    for cell in row:
        value = cell[1:] if cell.startswith("'") else cell  # the formula-defusing prefix
        if "@" in value and normalize_email(value) in wanted:
            return True
    return False
