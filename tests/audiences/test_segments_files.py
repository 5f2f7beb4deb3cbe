"""Segment files: parsing, and errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.segment_files import load_segment, parse_segment
from newsletter.audiences.segments import (
    All,
    AttributeCompare,
    Engaged,
    HasTopic,
    Not,
    SignedUpWithin,
    check_rule,
)
from newsletter.errors import NotFound, ValidationError
from newsletter.services.segments import list_segments
from tests.seed import REPO

SPECS = {
    "city": AttributeSpec("city", "string", "City, for event invitations"),
    "visits": AttributeSpec("visits", "number", "Events attended"),
    "member_since": AttributeSpec("member_since", "date", "Joined the community"),
    "prefers_digest": AttributeSpec("prefers_digest", "boolean", "Wants a monthly digest"),
}


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_full_rule_language_parses(tmp_path):
    path = write(
        tmp_path,
        "mixed",
        """
description: Everything at once
rule:
  all:
    - topic: research-news
    - attribute: city
      in: [Philadelphia, Boston]
    - attribute: member_since
      before: 2025-01-01
    - signed_up_within_days: 365
    - any:
        - clicked_consultation_within_days: 30
        - never: opened
    - not:
        tag: digest-only
""",
    )
    segment = parse_segment(path, SPECS)
    assert segment.name == "mixed" and segment.description == "Everything at once"
    rules = segment.rule.rules
    assert rules[0] == HasTopic("research-news")
    assert rules[1] == AttributeCompare("city", "in", ("Philadelphia", "Boston"), "text")
    assert rules[2].kind == "date" and str(rules[2].value) == "2025-01-01"
    assert rules[3] == SignedUpWithin(365)
    assert rules[4].rules[0] == Engaged("clicked_consultation", 30)
    assert rules[4].rules[1] == Engaged("opened", None)
    assert isinstance(rules[5], Not)


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("rule:\n  all:\n    - attribute: shoe_size\n      equals: 9\n", 3,
         "unknown attribute 'shoe_size'"),
        ("rule:\n  all:\n    - topic: x\n    - attribute: visits\n      gt: many\n", 4,
         "'visits' is a number"),
        ("rule:\n  attribute: member_since\n  after: yesterday\n", 2, "'member_since' is a date"),
        ("rule:\n  attribute: city\n  gt: 3\n", 2, "operator 'gt' does not apply"),
        ("rule:\n  all:\n    - colour: blue\n", 3, "unknown rule 'colour'"),
        ("rule:\n  signed_up_within_days: soon\n", 2, "whole number of days"),
        ("rule:\n  status: sleeping\n", 2, "unknown status 'sleeping'"),
        ("rule:\n  all: [\n", 3, "not valid YAML"),
        ("rules:\n  topic: x\n", 1, "unknown field 'rules'"),
    ],
)  # fmt: skip
def test_bad_segment_names_file_line_and_problem(tmp_path, body, line, words):
    path = write(tmp_path, "broken", body)
    with pytest.raises(ValidationError) as error:
        parse_segment(path, SPECS)
    message = str(error.value)
    assert str(path) in message and f"line {line}" in message and words in message
    assert "Fix:" in message


def test_unknown_segment_is_not_found_and_lists_the_known_ones(tmp_path):
    write(tmp_path, "everyone", "description: all\n")
    with pytest.raises(NotFound) as error:
        load_segment(tmp_path, "nobody", SPECS)
    assert "unknown segment 'nobody'" in str(error.value)
    assert "known segments: everyone" in str(error.value)
    with pytest.raises(NotFound):
        load_segment(tmp_path, "../etc/passwd", SPECS)


def test_rule_model_is_independent_of_yaml():
    rule = All((HasTopic("events"), AttributeCompare("visits", "gt", 2)))
    checked = check_rule(rule, SPECS)
    assert checked.rules[1] == AttributeCompare("visits", "gt", 2.0, "number")
    with pytest.raises(ValidationError, match="unknown attribute 'age'"):
        check_rule(AttributeCompare("age", "gt", 2), SPECS)


def test_shipped_segments_parse():
    entries = list_segments(REPO / "audiences")
    names = {e.name for e in entries}
    assert {"everyone", "research-readers"} <= names
    assert all(e.error is None for e in entries), [e.error for e in entries if e.error]
