"""Streaming subscriber CSV import (newsletter.audiences.csv_import), on real files."""

from __future__ import annotations

import csv
import io
import threading
import tracemalloc
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.audiences.attributes import AttributeSpec, load_attributes
from newsletter.audiences.csv_import import (
    CsvHeader,
    ImportRow,
    Reject,
    _mp_context,
    open_subscribers_csv,
    write_rejects,
)
from newsletter.audiences.csv_records import scan
from newsletter.errors import ValidationError
from tests.seed import REPO as REPO_ROOT

ATTRIBUTES = {
    "city": AttributeSpec("city", "string", "City"),
    "events_attended": AttributeSpec("events_attended", "number", "Events"),
    "member_since": AttributeSpec("member_since", "date", "Joined"),
    "prefers_evening_events": AttributeSpec("prefers_evening_events", "boolean", "Evenings"),
}


def _file(tmp_path: Path, content: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read_all(
    path: Path, size: int = 7, **options: object
) -> tuple[CsvHeader, list[ImportRow], list[Reject], list[ImportRow | Reject]]:
    """Read everything (small chunks by default, so chunk boundaries fall inside files)."""
    options.setdefault("attributes", ATTRIBUTES)
    with open_subscribers_csv(path, **options) as csv_file:  # type: ignore[arg-type]
        items = [item for chunk in csv_file.chunks(size=size) for item in chunk]
        assert csv_file.bytes_read == csv_file.total_bytes == path.stat().st_size
        header = csv_file.header
    rows = [item for item in items if isinstance(item, ImportRow)]
    rejects = [item for item in items if isinstance(item, Reject)]
    return header, rows, rejects, items


def open_fails(path: Path, **options: object) -> ValidationError:
    options.setdefault("attributes", ATTRIBUTES)
    with pytest.raises(ValidationError) as caught:
        open_subscribers_csv(path, **options)  # type: ignore[arg-type]
    return caught.value


# --- the happy path --------------------------------------------------------------------------


def test_rows_are_read_trimmed_and_typed(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "E-mail , First Name,Last Name,Time Zone,Tags,Topics,City,Events Attended,"
        "member_since,prefers_evening_events\n"
        " Ada@Example.ORG ,  Ada , Lovelace ,america/new_york,vip | press ,"
        "research-news;events|events,Philadelphia,3,2021-03-14,yes\n"
        "ben@example.com,,,,,,,,,\n",
    )
    header, rows, rejects, _ = read_all(path)
    assert rejects == []
    assert header.used == [
        "email",
        "first_name",
        "last_name",
        "time_zone",
        "tags",
        "topics",
        "city",
        "events_attended",
        "member_since",
        "prefers_evening_events",
    ]
    assert header.ignored == []
    assert rows[0] == ImportRow(
        line=2,
        email="ada@example.org",
        first_name="Ada",
        last_name="Lovelace",
        time_zone="America/New_York",
        tags=("vip", "press"),
        topics=("research-news", "events"),
        attributes={
            "city": "Philadelphia",
            "events_attended": 3,
            "member_since": date(2021, 3, 14),
            "prefers_evening_events": True,
        },
    )
    assert rows[1] == ImportRow(3, "ben@example.com", None, None, None, (), (), {})


def test_repository_sample_imports_cleanly() -> None:
    attributes = load_attributes(REPO_ROOT / "audiences" / "attributes.yaml")
    header, rows, rejects, _ = read_all(
        REPO_ROOT / "audiences" / "sample-subscribers.csv", attributes=attributes
    )
    assert rejects == []
    assert len(rows) >= 30
    assert header.ignored == []
    assert len({row.email for row in rows}) == len(rows)
    assert all(row.email.endswith(("@example.org", "@example.com")) for row in rows)
    assert any(row.first_name and not row.first_name.isascii() for row in rows)
    assert any(len(row.topics) >= 3 for row in rows)


def test_undeclared_columns_are_reported_not_stored(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "email,Notes,city,status,lists,,favourite colour\n"
        "a@example.com,call back,Camden,active,main,x,blue\n",
    )
    header, rows, rejects, _ = read_all(path)
    assert rejects == []
    assert header.columns == ["email", "Notes", "city", "status", "lists", "", "favourite colour"]
    assert header.used == ["email", "city"]
    assert header.ignored == ["Notes", "status", "lists", "(unnamed column 6)", "favourite colour"]
    assert rows[0].attributes == {"city": "Camden"}


# --- per-row rejects with physical line numbers ------------------------------------------------


def test_malformed_rows_are_rejected_with_physical_line_numbers(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "email,first_name,notes,events_attended\r\n"  # 1
        'a@example.com,Ann,"line one\r\nline two\r\nline three",1\r\n'  # 2-4
        "bad-address,Bob,x,2\r\n"  # 5
        '"c@example.com","Cy\r\nMulti",y,3\r\n'  # 6-7
        "d@example.com,Dee,z,twelve\r\n"  # 8
        "\r\n"  # 9: blank, skipped
        "e@example.com,Eve,,\r\n"  # 10
        "f@example,,,\r\n"  # 11
        ",No Address,,\r\n"  # 12
        'g@example.com,"x" trailing,,\r\n'  # 13: non-strict csv, like Excel
        "h@example.com,Hal,,5,extra\r\n",  # 14
    )
    _, rows, rejects, items = read_all(path)
    assert [row.line for row in rows] == [2, 10, 13]
    assert rows[2].first_name == "x trailing"
    assert [(r.line, r.reason, r.email) for r in rejects] == [
        (5, "email: missing @", "bad-address"),
        (6, "first_name: contains a line break or control character", "c@example.com"),
        (8, "events_attended: 'twelve' is not a number (write e.g. 12 or 3.5)", "d@example.com"),
        (11, "email: domain has no dot", "f@example"),
        (12, "email: missing address", ""),
        (14, "5 cells but the header has 4 columns", "h@example.com"),
    ]
    assert [item.line for item in items] == sorted(item.line for item in items)


def test_all_problems_of_a_row_are_reported_naming_the_columns(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "Email Address,First Name,TZ,Member Since,prefers_evening_events\n"
        f"nope,{'N' * 201},Mars/Olympus,2023-02-30,maybe\n",
    )
    _, _, rejects, _ = read_all(path)
    assert rejects[0].line == 2
    assert rejects[0].reason.split("; ") == [
        "Email Address: missing @",
        "First Name: longer than 200 characters",
        "TZ: unknown time zone 'Mars/Olympus' (use an IANA name such as America/New_York)",
        "Member Since: '2023-02-30' is not a real date",
        "prefers_evening_events: 'maybe' is not true/false (also yes/no, 1/0)",
    ]


def test_email_longer_than_254_is_rejected(tmp_path: Path) -> None:
    long = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"
    _, _, rejects, _ = read_all(_file(tmp_path, f"email\n{long}\n"))
    assert rejects == [Reject(2, "email: address longer than 254 characters", long)]


def test_in_file_duplicates_keep_the_first(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "email,first_name\n"
        "ada@example.org,First\n"
        "bob@example.org,Bob\n"
        " ADA@example.org ,Second\n"
        "Ada@Example.Org,Third\n"
        "bob@example.org,Bob again\n",
    )
    _, rows, rejects, _ = read_all(path)
    assert [(row.line, row.first_name) for row in rows] == [(2, "First"), (3, "Bob")]
    assert [(r.line, r.reason) for r in rejects] == [
        (4, "duplicate of line 2"),
        (5, "duplicate of line 2"),
        (6, "duplicate of line 3"),
    ]


def test_sql_and_html_strings_are_kept_verbatim(tmp_path: Path) -> None:
    evil = {
        "first_name": "Robert'); DROP TABLE subscribers;--",
        "last_name": "<script>alert(1)</script>",
        "city": '"><img src=x onerror=alert(1)>',
        "tags": "1' OR '1'='1",
    }
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["email", *evil])
    writer.writerow(["x@example.com", *evil.values()])
    _, rows, rejects, _ = read_all(_file(tmp_path, out.getvalue()))
    assert rejects == []
    assert rows[0].first_name == evil["first_name"]
    assert rows[0].last_name == evil["last_name"]
    assert rows[0].attributes == {"city": evil["city"]}
    assert rows[0].tags == (evil["tags"],)


def test_export_formula_prefix_is_removed_once(tmp_path: Path) -> None:
    path = _file(tmp_path, "email,first_name,events_attended\n'-x@example.com,'=1,'-2\n")
    _, rows, rejects, _ = read_all(path)
    assert rejects == []
    assert (rows[0].email, rows[0].first_name) == ("-x@example.com", "=1")
    assert rows[0].attributes == {"events_attended": -2}


def test_multi_values_split_on_pipe_and_semicolon_but_only_pipe_in_semicolon_files(
    tmp_path: Path,
) -> None:
    comma = _file(tmp_path, 'email,tags\na@example.com,"x;y|z"\n', "comma.csv")
    semi = _file(tmp_path, "email;tags\na@example.com;x|y|z\n", "semi.csv")
    assert read_all(comma)[1][0].tags == ("x", "y", "z")
    assert read_all(semi)[1][0].tags == ("x", "y", "z")


def test_time_zones_are_canonical_iana_names(tmp_path: Path) -> None:
    path = _file(tmp_path, "email,time_zone\na@example.com,europe/paris\nb@example.com,EST5\n")
    _, rows, rejects, _ = read_all(path)
    assert rows[0].time_zone == "Europe/Paris"
    assert rejects[0].line == 3 and "unknown time zone 'EST5'" in rejects[0].reason


# --- encodings and delimiters --------------------------------------------------------------------

SAMPLE = "email,first_name,last_name\r\nzoe@example.com,Zoë,Müller\r\nj@example.com,José,Núñez\r\n"


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (SAMPLE.encode("utf-8"), {}),
        (SAMPLE.encode("utf-8-sig"), {}),
        (SAMPLE.encode("utf-16"), {}),  # with BOM
        (SAMPLE.replace(",", "\t").encode("utf-16-le").join([b"\xff\xfe", b""]), {}),
        (SAMPLE.replace(",", ";").encode("cp1252"), {"encoding": "cp1252"}),
        (SAMPLE.replace(",", "\t").encode("utf-8"), {}),
        (b"sep=;\r\n" + SAMPLE.replace(",", ";").encode("utf-8"), {}),
        (SAMPLE.replace(",", "|").encode("utf-8"), {"delimiter": "|"}),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16-tab", "cp1252-excel", "tab", "sep-hint", "pipe"],
)
def test_encodings_and_delimiters(tmp_path: Path, data: bytes, options: dict[str, str]) -> None:
    header, rows, rejects, _ = read_all(_file(tmp_path, data), **options)
    assert rejects == []
    assert header.columns == ["email", "first_name", "last_name"]
    assert [(r.email, r.first_name, r.last_name) for r in rows] == [
        ("zoe@example.com", "Zoë", "Müller"),
        ("j@example.com", "José", "Núñez"),
    ]
    assert rows[1].line == (3 if not data.startswith(b"sep=") else 4)


def test_cp1252_without_encoding_fails_fast_with_the_line(tmp_path: Path) -> None:
    path = _file(tmp_path, SAMPLE.replace(",", ";").encode("cp1252"))
    error = open_fails(path)
    assert error.where == f"{path}:2"
    assert "not UTF-8" in error.message
    assert error.fix and "--encoding cp1252" in error.fix


def test_mixed_encoding_after_the_sample_is_a_row_reject(tmp_path: Path) -> None:
    good = "".join(f"person{i}@example.com,Zoë\n" for i in range(40_000))  # > 1 MB
    data = (
        b"email,first_name\n"
        + good.encode("utf-8")
        + "late@example.com,Zoë\n".encode("cp1252")
        + b"last@example.com,Ann\n"
    )
    _, rows, rejects, _ = read_all(_file(tmp_path, data), size=5000)
    assert len(rows) == 40_001
    assert rejects == [
        Reject(
            40_002,
            "not valid UTF-8 (use --encoding cp1252 for files saved by Excel as plain CSV)",
            "late@example.com",
        )
    ]
    assert rows[-1].line == 40_003


def test_mixed_encoding_in_a_utf16_file_is_a_row_reject(tmp_path: Path) -> None:
    data = "email\r\na@example.com\r\n".encode("utf-16") + b"\x00\xd8" + "\r\n".encode("utf-16-le")
    data += "b@example.com\r\n".encode("utf-16-le")
    _, rows, rejects, _ = read_all(_file(tmp_path, data))
    assert [row.email for row in rows] == ["a@example.com", "b@example.com"]
    assert [(r.line, r.reason) for r in rejects] == [(3, "not valid UTF-16 text")]


# --- whole-file errors at open ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"", None, "empty"),
        (b"\n\n\r\n", None, "no header row"),
        (b"ada@example.org,Ada\nbob@example.org,Bob\n", 1, "header row missing"),
        (b"name,city\nAda,Camden\n", 1, "no email column"),
        (b"email,E-mail,name\nx@example.com,y@example.com,z\n", 1, "'email' and 'E-mail'"),
        (b"email,Notes,notes\n", 1, "'Notes' and 'notes'"),
        (b"PK\x03\x04\x14\x00\x06\x00binary", None, "workbook or ZIP"),
        (b"email\nok@example.com\n\x00\x01\x02\xff\xfe junk", 3, "binary data"),
        (b"email\n\x89PNG\r\n\x1a\n", 2, "not UTF-8"),
        (b"email\rok@example.com\r", None, "CR only"),
    ],
)
def test_unusable_files_fail_at_open(
    tmp_path: Path, content: bytes, line: int | None, fragment: str
) -> None:
    path = _file(tmp_path, content)
    error = open_fails(path)
    assert error.where == (str(path) if line is None else f"{path}:{line}")
    assert fragment in error.message
    assert error.fix


def test_size_limit_and_missing_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "email\n" + "a@example.com\n" * 100)
    error = open_fails(path, max_bytes=1024)
    assert "import limit is 1 KB" in error.message
    assert "file not found" in open_fails(tmp_path / "missing.csv").message


def test_binary_junk_fails_at_open(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 64
    error = open_fails(_file(tmp_path, junk))
    assert "binary data" in error.message or "not UTF-8" in error.message


def test_header_only_yields_nothing(tmp_path: Path) -> None:
    header, rows, rejects, _ = read_all(_file(tmp_path, "email,first_name\n"))
    assert (rows, rejects, header.used) == ([], [], ["email", "first_name"])


# --- limits and memory -------------------------------------------------------------------------


def test_ten_megabyte_field_is_one_reject_in_bounded_memory(tmp_path: Path) -> None:
    huge = "x" * (10 * 1024 * 1024)
    quoted = "\n".join(["y" * 999] * 2000)  # 2 MB quoted field over 2000 lines
    path = _file(
        tmp_path,
        "email,first_name,notes\n"
        "a@example.com,Ann,\n"
        f"big@example.com,Big,{huge}\n"
        "b@example.com,Bob,\n"
        f'big2@example.com,Big,"{quoted}"\n'
        "c@example.com,Cy,\n",
    )
    tracemalloc.start()
    try:
        _, rows, rejects, _ = read_all(path, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * 1024 * 1024, peak  # the file is 12 MB
    assert [row.line for row in rows] == [2, 4, 2005]
    assert rejects == [
        Reject(3, "row longer than 64 KB (line 3)", "big@example.com"),
        Reject(
            5, "row longer than 64 KB (lines 5-2004; is a quote left open?)", "big2@example.com"
        ),
    ]


def test_unclosed_quote_at_end_of_file_is_a_reject(tmp_path: Path) -> None:
    path = _file(tmp_path, 'email,first_name\na@example.com,Ann\nb@example.com,"Bob\nno end\n')
    _, rows, rejects, _ = read_all(path)
    assert [row.line for row in rows] == [2]
    assert rejects == [
        Reject(3, "a quoted field is never closed (lines 3-4, end of file)", "b@example.com")
    ]


def test_last_line_without_newline_and_nul_rows(tmp_path: Path) -> None:
    # A NUL in the first megabyte fails the file at open; later it only rejects its row.
    good = "".join(f"p{i}@example.com,A\n" for i in range(60_000)).encode()
    data = b"email,first_name\n" + good + b"n@example.com,N\x00ul\nz@example.com,Z"
    _, rows, rejects, _ = read_all(_file(tmp_path, data), size=5000)
    assert rejects == [Reject(60_002, "contains a NUL byte (binary data)", "")]
    assert rows[-1].line == 60_003 and rows[-1].first_name == "Z"


# --- the csv state machine and the pool -----------------------------------------------------


_csv_text = st.lists(
    st.sampled_from(["a", "b", ",", '"', '""', "\n", "\r\n", " ", "é"]), max_size=40
).map("".join)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_csv_text)
def test_records_match_the_csv_module(tmp_path: Path, body: str) -> None:
    """Record boundaries agree with csv.reader on the whole text; lines are physical."""
    path = _file(tmp_path, "email,x\n" + body)
    with open_subscribers_csv(path, attributes={}, workers=1) as csv_file:
        records = list(csv_file._reader.records())
    expected = list(csv.reader(io.StringIO(body, newline="")))
    if records and len(records[-1]) == 3:  # a quote left open until the end of the file
        assert "never closed" in records[-1][2]
        assert scan(records[-1][1], 0, b'"', b",") == 2  # still inside the quotes
        records = records[:-1]
        expected = expected[: len(records)]
    assert all(len(record) == 2 for record in records)
    got = [next(csv.reader([record[1].decode()])) for record in records]
    assert got == expected
    starts = [1 + ("email,x\n" + body)[:pos].count("\n") for pos in _record_offsets(records)]
    assert [record[0] for record in records] == starts


def _record_offsets(records: list[tuple[object, ...]]) -> list[int]:
    offsets, position = [], len("email,x\n")
    for record in records:
        offsets.append(position)
        position += len(record[1].decode())  # type: ignore[union-attr]
    return offsets


def _mixed_file(path: Path, rows: int) -> None:
    """Valid rows, some broken ones, multi-line names, and 50 duplicates at the end."""
    lines = ["email,first_name,tags,topics,city,events_attended,member_since"]
    for i in range(rows):
        email, name, events = f"person{i}@example.org", f"Name{i}", str(i % 13)
        if i >= rows - 50:
            email = f"Person{i - (rows - 50) + 1100}@Example.org"  # of clean rows 1100-1149
        elif i % 97 == 0:
            email = f"broken{i}.example.org"
        elif i % 501 == 0:
            name = f'"Name {i}\nsecond line"'
        elif i % 89 == 0:
            events = "many"
        since = f"2020-01-0{i % 9 + 1}"
        lines.append(f"{email},{name},t{i % 5}|t{i % 7},events,City{i % 9},{events},{since}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pool_and_single_worker_give_identical_results(tmp_path: Path) -> None:
    path = tmp_path / "20k.csv"
    _mixed_file(path, 20_000)
    results = {}
    for workers in (1, 2):
        with open_subscribers_csv(path, attributes=ATTRIBUTES, workers=workers) as csv_file:
            chunks = list(csv_file.chunks(size=3000))
        assert all(len(chunk) <= 3000 for chunk in chunks)
        results[workers] = [item for chunk in chunks for item in chunk]
    assert results[1] == results[2]
    rejects = [item for item in results[1] if isinstance(item, Reject)]
    duplicates = [r for r in rejects if r.reason.startswith("duplicate of line")]
    assert [(r.line, r.reason) for r in duplicates[:2]] == [
        # row i starts on line 2 + i + (multi-line names before it: every 501st row)
        (2 + 19_950 + 39, "duplicate of line 1104"),
        (2 + 19_951 + 39, "duplicate of line 1105"),
    ]
    assert len(duplicates) == 50
    assert sum("contains a line break" in r.reason for r in rejects) == 39
    assert sum(r.reason.endswith("is not a number (write e.g. 12 or 3.5)") for r in rejects) > 100
    assert len(results[1]) == 20_000


def test_stopping_early_closes_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "20k.csv"
    _mixed_file(path, 20_000)
    with open_subscribers_csv(path, attributes=ATTRIBUTES, workers=2) as csv_file:
        first = next(iter(csv_file.chunks(size=1000)))
        assert len(first) == 1000
    assert csv_file._pool is None
    with pytest.raises(RuntimeError):
        csv_file.chunks()


def test_write_rejects_defuses_formulas(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    count = write_rejects(
        path, [Reject(7, "email: missing @", "=HYPERLINK(1)"), Reject(9, "duplicate of line 2", "")]
    )
    assert count == 2
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows == [
        ["line", "email", "reason"],
        ["7", "'=HYPERLINK(1)", "email: missing @"],
        ["9", "", "duplicate of line 2"],
    ]


def test_bad_delimiter_option_and_directory(tmp_path: Path) -> None:
    path = _file(tmp_path, "email\na@example.com\n")
    assert "cannot be the delimiter" in open_fails(path, delimiter=";;").message
    assert "cannot be the delimiter" in open_fails(path, delimiter='"').message
    assert open_fails(tmp_path).message == "not a file"


def test_over_long_last_line_without_newline(tmp_path: Path) -> None:
    last = "b@example.com,"
    last += "z" * (64 * 1024 + 1 - len(last))  # exactly one read of 64 KB + 1, then the end
    path = _file(tmp_path, "email,notes\na@example.com,ok\n" + last)
    _, rows, rejects, _ = read_all(path)
    assert [row.line for row in rows] == [2]
    assert rejects == [Reject(3, "row longer than 64 KB (line 3)", "b@example.com")]


def test_pool_works_when_other_threads_run(tmp_path: Path) -> None:
    """With other threads alive the pool uses forkserver instead of fork; same results."""
    path = tmp_path / "3k.csv"
    _mixed_file(path, 3_000)
    before = _mp_context().get_start_method()  # other suites may have left threads running
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _mp_context().get_start_method() == "forkserver"
        _, _, _, pooled = read_all(path, size=500, workers=2)
    finally:
        stop.set()
        thread.join()
    assert _mp_context().get_start_method() == before
    assert pooled == read_all(path, size=500, workers=1)[3]


def test_a_reader_process_that_dies_becomes_a_clear_error():
    """A real worker killed mid-task (os._exit): the pool breaks; the user gets what
    happened and how to resume, not a BrokenProcessPool traceback."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from newsletter.audiences import csv_import
    from newsletter.errors import ValidationError

    with ProcessPoolExecutor(max_workers=1, mp_context=csv_import._mp_context()) as pool:
        future = pool.submit(os._exit, 9)
        with pytest.raises(ValidationError, match="reader process died") as error:
            csv_import._parsed(future)
    assert "run the same import command again" in str(error.value)
