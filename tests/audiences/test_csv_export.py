"""CSV export: formula defusing, RFC 4180 quoting, and an export → import round trip."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_export import (
    export_subscribers_csv,
    safe_cell,
    write_subscribers_csv,
)
from newsletter.audiences.csv_import import ImportRow, open_subscribers_csv
from newsletter.audiences.emails import normalize_email


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("https://evil.example","click")', "+1", "-2", "@SUM(1)", "\t=1", "\r=1"],
)
def test_formula_cells_are_prefixed(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["'=1", "''+1"])
def test_already_prefixed_cells_get_one_more_apostrophe(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Alice", "alice@example.com", "1", "a=b", "O'Connor", "'", ""])
def test_plain_cells_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_values_are_rendered() -> None:
    assert safe_cell(None) == ""
    assert safe_cell(True) == "true"
    assert safe_cell(False) == "false"
    assert safe_cell(date(2024, 2, 29)) == "2024-02-29"
    assert safe_cell(("events", "research-news")) == "events|research-news"
    assert safe_cell(["-x", "y"]) == "'-x|y"
    assert safe_cell(3.5) == "3.5"
    assert safe_cell(-2) == "'-2"


def test_write_quotes_per_rfc_4180_and_defuses_formulas() -> None:
    out = io.StringIO(newline="")
    rows = [
        {"email": "a@example.com", "first_name": 'Say "hi", Bob', "tags": ("x", "y")},
        {"email": "b@example.com", "first_name": "=HYPERLINK(1)", "city": "two\nlines"},
    ]
    count = write_subscribers_csv(iter(rows), out, ["email", "first_name", "tags", "city"])
    text = out.getvalue()
    assert count == 2
    assert text.splitlines(keepends=True)[0] == "email,first_name,tags,city\r\n"
    assert '"Say ""hi"", Bob"' in text
    assert "'=HYPERLINK(1)" in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1] == ["a@example.com", 'Say "hi", Bob', "x|y", ""]
    assert parsed[2] == ["b@example.com", "'=HYPERLINK(1)", "", "two\nlines"]


def test_export_file_is_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    export_subscribers_csv(path, [{"email": "zoë@example.com", "first_name": "Zoë"}], ["email"])
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfemail\r\n")
    assert "zoë@example.com".encode() in data


ATTRIBUTES = {
    "city": AttributeSpec("city", "string", "City"),
    "events_attended": AttributeSpec("events_attended", "number", "Events"),
    "member_since": AttributeSpec("member_since", "date", "Joined"),
    "prefers_evening_events": AttributeSpec("prefers_evening_events", "boolean", "Evenings"),
}
COLUMNS = ["email", "first_name", "last_name", "time_zone", "tags", "topics", *ATTRIBUTES]

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30
).filter(lambda s: s == s.strip())
_values = st.lists(_text.filter(lambda s: "|" not in s and ";" not in s), max_size=3, unique=True)
_row = st.fixed_dictionaries(
    {
        "local": st.sampled_from(["", "=", "+", "-", "@x", "'", "''-"]).map(
            lambda p: p.replace("@", "")
        ),
        "first_name": st.none() | _text,
        "last_name": st.none() | _text,
        "time_zone": st.none() | st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]),
        "tags": _values,
        "topics": _values,
        "city": st.none() | _text,
        "events_attended": st.none()
        | st.integers(-(10**15), 10**15)
        | st.floats(allow_nan=False, allow_infinity=False, width=64).filter(
            lambda f: not f.is_integer()
        ),
        "member_since": st.none() | st.dates(date(1900, 1, 1), date(2100, 1, 1)),
        "prefers_evening_events": st.none() | st.booleans(),
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_row, min_size=1, max_size=8))
def test_export_then_import_round_trips(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    for index, row in enumerate(rows):
        row["email"] = f"{row.pop('local')}Person{index}@Example.org"
    path = tmp_path / "round-trip.csv"
    export_subscribers_csv(path, rows, COLUMNS)
    with open_subscribers_csv(path, attributes=ATTRIBUTES, workers=1) as csv_file:
        got = [item for chunk in csv_file.chunks() for item in chunk]
    assert all(isinstance(item, ImportRow) for item in got), got
    assert len(got) == len(rows)
    for row, item in zip(rows, got, strict=True):
        assert isinstance(item, ImportRow)
        assert item.email == normalize_email(str(row["email"]))
        assert item.first_name == row["first_name"]
        assert item.last_name == row["last_name"]
        assert item.time_zone == row["time_zone"]
        assert item.tags == tuple(row["tags"])  # type: ignore[arg-type]
        assert item.topics == tuple(row["topics"])  # type: ignore[arg-type]
        expected = {name: row[name] for name in ATTRIBUTES if row[name] is not None}
        assert item.attributes == expected
        assert {k: type(v) for k, v in item.attributes.items()} == {
            k: type(v) for k, v in expected.items()
        }
