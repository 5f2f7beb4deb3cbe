"""Publication dates as sites write them: ISO 8601 (naive or zoned, `Z`), RFC 2822 (feeds,
WordPress exports), `2024/03/12`, `March 12, 2024`, `12 Mar 2024`, `12.03.2024`.

Only the calendar date is kept; the local date where the post was published is the one its
readers saw, so a zoned timestamp keeps its own date rather than being moved to UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "januar", "janvier", "enero"),
            ("feb", "february", "februar", "février", "fevrier", "febrero"),
            ("mar", "march", "märz", "maerz", "mars", "marzo"),
            ("apr", "april", "avril", "abril"),
            ("may", "mai", "mayo"),
            ("jun", "june", "juni", "juin", "junio"),
            ("jul", "july", "juli", "juillet", "julio"),
            ("aug", "august", "août", "aout", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre"),
            ("oct", "october", "oktober", "octobre", "octubre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "dezember", "décembre", "decembre", "diciembre"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"([A-Za-zäéû]{3,9})\.?"
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[T\s])")
_SLASHED = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})\b")
_DAY_FIRST = re.compile(r"^(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b")  # 12.03.2024 (European)
_MONTH_DAY_YEAR = re.compile(
    rf"^(?:[A-Za-z]+,?\s+)?{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
)
_DAY_MONTH_YEAR = re.compile(
    rf"^(?:[A-Za-z]+,?\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+{_MONTH}\s+(\d{{4}})\b"
)


def parse_date(value: object) -> dt.date | None:
    """A date from whatever a front matter or page holds; None when it is not one."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:80]
    if not text:
        return None
    found = _ISO_DAY.match(text) or _SLASHED.match(text)
    if found:
        return _make(found.group(1), found.group(2), found.group(3))
    found = _DAY_FIRST.match(text)
    if found:
        return _make(found.group(3), found.group(2), found.group(1))
    found = _MONTH_DAY_YEAR.match(text)
    if found and found.group(1).lower() in _MONTHS:
        return _make(found.group(3), _MONTHS[found.group(1).lower()], found.group(2))
    found = _DAY_MONTH_YEAR.match(text)
    if found and found.group(2).lower() in _MONTHS:
        return _make(found.group(3), _MONTHS[found.group(2).lower()], found.group(1))
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        return None


def _make(year: str | int, month: str | int, day: str | int) -> dt.date | None:
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return date if 1900 <= date.year <= 2200 else None
