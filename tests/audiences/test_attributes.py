"""Attribute declarations (audiences/attributes.yaml), the clinical-term guard and coercion."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.audiences.attributes import (
    AttributeSpec,
    clinical_term,
    coerce,
    load_attributes,
)
from newsletter.errors import ValidationError
from tests.seed import REPO as REPO_ROOT


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "attributes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _fails(path: Path) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_attributes(path)
    return caught.value


def test_repository_sample_declares_the_documented_attributes() -> None:
    specs = load_attributes(REPO_ROOT / "audiences" / "attributes.yaml")
    assert {name: spec.type for name, spec in specs.items()} == {
        "city": "string",
        "preferred_language": "string",
        "heard_about_us": "string",
        "events_attended": "number",
        "member_since": "date",
        "prefers_evening_events": "boolean",
    }
    assert all(spec.description for spec in specs.values())
    assert specs["city"] == AttributeSpec("city", "string", specs["city"].description)


def test_missing_or_empty_file_declares_nothing(tmp_path: Path) -> None:
    assert load_attributes(tmp_path / "nope.yaml") == {}
    assert load_attributes(_write(tmp_path, "# nothing yet\n")) == {}
    assert load_attributes(_write(tmp_path, "attributes:\n")) == {}


def test_bad_type_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "attributes:\n  city:\n    type: string\n    description: City\n"
        "  visits:\n    type: integer\n    description: Events attended\n",
    )
    error = _fails(path)
    assert error.where == f"{path}:6"
    assert "'visits'" in error.message and "type 'integer'" in error.message
    assert error.fix and "number" in error.fix


@pytest.mark.parametrize(
    ("name", "term"),
    [
        ("diagnosis_code", "diagnos"),
        ("medicationList", "medicat"),
        ("date_of_birth", "date of birth"),
        ("birth_year", "birth"),
        ("dob", "dob"),
        ("referral_source", "referr"),
        ("ketamine_sessions", "ketamine"),
        ("mental_health_score", "mental health"),
        ("treatment_stage", "treat"),
        ("has_ptsd", "ptsd"),
        ("insurance_provider", "insur"),
        ("next_appointment", "appointment"),
        ("patient", "patient"),
        ("therapist_name", "therap"),
        ("anxiety_level", "anxiet"),
        ("ssn", "ssn"),
        ("phone_number", "phone"),
    ],
)
def test_clinical_names_are_refused_with_the_line(tmp_path: Path, name: str, term: str) -> None:
    assert clinical_term(name) == term
    path = _write(
        tmp_path,
        f"attributes:\n  city:\n    type: string\n    description: City\n"
        f"  {name}:\n    type: string\n    description: something\n",
    )
    error = _fails(path)
    assert error.where == f"{path}:5"
    assert repr(name) in error.message and "health" in error.message
    assert error.fix and "must never be stored" in error.fix


def test_clinical_description_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "attributes:\n  group:\n    type: string\n    description: Which treatment group\n",
    )
    error = _fails(path)
    assert error.where == f"{path}:4"
    assert "description mentions 'treat'" in error.message


@pytest.mark.parametrize(
    "text",
    [
        "Heard of Mindstream Medicine at a community talk",
        "attended_retreat",
        "city",
        "preferred_language",
        "events_attended",
        "Number of public community events they attended",
    ],
)
def test_innocent_names_and_the_clinic_name_pass(text: str) -> None:
    assert clinical_term(text) is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("attributes:\n  email:\n    type: string\n    description: x\n", 2, "built-in"),
        ("attributes:\n  City:\n    type: string\n    description: x\n", 2, "lowercase"),
        ("attributes:\n  city:\n    type: string\n", 2, "missing `description`"),
        ("attributes:\n  city:\n    description: x\n", 2, "missing `type`"),
        ("attributes:\n  city:\n    type: string\n    description: x\n    pii: no\n", 5, "pii"),
        ("attributes:\n  city: string\n", 2, "expected `type` and `description`"),
        ("attribute:\n  city: {}\n", 2, "unknown key 'attribute'"),
        ("- city\n", 1, "expected a mapping"),
        ("attributes:\n  city:\n    type: [string\n", 4, "not valid YAML"),
    ],
)
def test_malformed_declarations(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = _write(tmp_path, text)
    error = _fails(path)
    assert error.where == f"{path}:{line}"
    assert fragment in error.message
    assert error.fix


def test_duplicate_declaration_names_both_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "attributes:\n  city:\n    type: string\n    description: a\n"
        "  city:\n    type: string\n    description: b\n",
    )
    error = _fails(path)
    assert error.where == f"{path}:5"
    assert "first on line 2" in error.message


NUMBER = AttributeSpec("n", "number", "n")
FLAG = AttributeSpec("f", "boolean", "f")
DAY = AttributeSpec("d", "date", "d")
TEXT = AttributeSpec("t", "string", "t")


@pytest.mark.parametrize(
    ("spec", "raw", "value"),
    [
        (NUMBER, "12", 12),
        (NUMBER, "-3", -3),
        (NUMBER, " 3.5 ", 3.5),
        (NUMBER, "1e3", 1000.0),
        (FLAG, "TRUE", True),
        (FLAG, "yes", True),
        (FLAG, "1", True),
        (FLAG, "False", False),
        (FLAG, "no", False),
        (FLAG, "0", False),
        (DAY, "2024-02-29", date(2024, 2, 29)),
        (TEXT, "  Philadelphia ", "Philadelphia"),
        (TEXT, "Robert'); DROP TABLE subscribers;--", "Robert'); DROP TABLE subscribers;--"),
    ],
)
def test_coerce(spec: AttributeSpec, raw: str, value: object) -> None:
    result = coerce(spec, raw)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("spec", "raw", "fragment"),
    [
        (NUMBER, "twelve", "not a number"),
        (NUMBER, "nan", "not a number"),
        (NUMBER, "inf", "not a number"),
        (NUMBER, "1,5", "not a number"),
        (FLAG, "maybe", "not true/false"),
        (DAY, "2023-02-30", "not a real date"),
        (DAY, "12/03/2021", "YYYY-MM-DD"),
        (DAY, "20240101", "YYYY-MM-DD"),
        (TEXT, "two\nlines", "line break"),
        (TEXT, "x" * 1001, "longer than 1000"),
    ],
)
def test_coerce_errors(spec: AttributeSpec, raw: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        coerce(spec, raw)
    assert fragment in str(caught.value)
