"""Send times as a person says them (pure: the current time is passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.domain.send_time import (
    check_not_past,
    describe,
    duration,
    is_late,
    resolve,
    time_zone,
)
from newsletter.errors import ValidationError

NY = "America/New_York"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def at(text: str, zone: str | None = None, now: datetime = NOW):
    return resolve(text, zone=zone, default_zone=NY, now=now)


def test_a_wall_clock_time_in_the_clinic_zone_is_its_utc_instant():
    winter = at("2026-12-08 09:00")
    assert winter.utc == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert winter.zone == NY and winter.note == ""
    assert winter.local.isoformat() == "2026-12-08T09:00:00-05:00"
    summer = at("2026-07-01T09:00")
    assert summer.utc == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    assert at("2026-12-08 09:00:30").utc == datetime(2026, 12, 8, 14, 0, 30, tzinfo=UTC)


def test_tz_names_another_zone_and_is_stored_with_the_time():
    paris = at("2026-12-08 09:00", "Europe/Paris")
    assert paris.utc == datetime(2026, 12, 8, 8, 0, tzinfo=UTC) and paris.zone == "Europe/Paris"
    assert at("2026-12-08 09:00", "UTC").utc == datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "expected_utc"),
    [
        ("2026-03-08 01:59", datetime(2026, 3, 8, 6, 59, tzinfo=UTC)),  # still EST
        ("2026-03-08 02:00", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # skipped → 03:00 EDT
        ("2026-03-08 02:30", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # skipped → 03:00 EDT
        ("2026-03-08 02:59:59", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        ("2026-03-08 03:00", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # the first valid time
        ("2026-03-08 03:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
    ],
)
def test_spring_forward_2026_a_skipped_time_fires_at_the_first_valid_instant(local, expected_utc):
    assert at(local).utc == expected_utc


def test_spring_forward_says_what_it_did():
    skipped = at("2026-03-08 02:30")
    assert skipped.local.isoformat() == "2026-03-08T03:00:00-04:00"
    assert skipped.note == (
        "2026-03-08 02:30 does not exist in America/New_York (the clocks spring forward that "
        "night); it will go out at 03:00 EDT, the first valid time after it"
    )
    assert at("2026-03-08 03:00").note == ""


@pytest.mark.parametrize(
    ("local", "expected_utc"),
    [
        ("2026-11-01 00:59", datetime(2026, 11, 1, 4, 59, tzinfo=UTC)),  # EDT, once
        ("2026-11-01 01:00", datetime(2026, 11, 1, 5, 0, tzinfo=UTC)),  # first 01:00 (EDT)
        ("2026-11-01 01:30", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # first 01:30 (EDT)
        ("2026-11-01 01:59", datetime(2026, 11, 1, 5, 59, tzinfo=UTC)),
        ("2026-11-01 02:00", datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),  # EST, once
    ],
)
def test_fall_back_2026_a_repeated_time_means_its_first_occurrence(local, expected_utc):
    assert at(local).utc == expected_utc


def test_fall_back_says_which_occurrence():
    repeated = at("2026-11-01 01:30")
    assert repeated.note == (
        "2026-11-01 01:30 happens twice in America/New_York (the clocks fall back that night); "
        "it means the first one, 01:30 EDT"
    )
    assert at("2026-11-01 02:00").note == ""


def test_gaps_of_other_zones_and_sizes():
    london = at("2026-03-29 01:30", "Europe/London")  # 01:00 GMT → 02:00 BST
    assert london.utc == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    lord_howe = at("2026-10-04 02:15", "Australia/Lord_Howe")  # a 30-minute gap
    assert lord_howe.local.strftime("%H:%M") == "02:30"


def test_an_offset_in_the_time_is_that_instant_and_refused_with_tz():
    explicit = at("2026-12-01T09:00:00-05:00")
    assert explicit.utc == datetime(2026, 12, 1, 14, 0, tzinfo=UTC) and explicit.zone == NY
    assert at("2026-12-01T14:00:00Z").utc == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as error:
        at("2026-12-01T09:00:00-05:00", "America/Chicago")
    assert "has a UTC offset and --tz America/Chicago was given too" in str(error.value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "EST5EDT/../../etc", "/etc/passwd", "ny"])
def test_unknown_zones_are_refused_with_examples(name):
    with pytest.raises(ValidationError) as error:
        time_zone(name)
    assert "is not a time zone name" in str(error.value)
    assert "America/New_York" in str(error.value)


def test_unreadable_times_are_refused_with_an_example():
    with pytest.raises(ValidationError) as error:
        at("next tuesday 9am")
    assert "'next tuesday 9am' is not a date and time" in str(error.value)
    assert '--at "2026-12-08 09:00"' in str(error.value)
    with pytest.raises(ValidationError, match="not a date"):
        at("2026-02-30 09:00")


def test_more_than_a_minute_in_the_past_is_refused():
    assert at("2026-01-15 06:59:30", now=NOW).utc == NOW - timedelta(seconds=30)  # 07:00 EST
    with pytest.raises(ValidationError) as error:
        at("2026-01-15 06:58", now=NOW)
    assert error.value.message == (
        "2026-01-15 06:58 EST (America/New_York) = 11:58 UTC is 2 min in the past"
    )
    assert error.value.where == "--at" and "campaign send" in error.value.fix
    check_not_past(NOW - timedelta(seconds=60), now=NOW)  # exactly the tolerance: accepted
    with pytest.raises(ValidationError, match="1 min in the past"):
        check_not_past(NOW - timedelta(seconds=61), now=NOW)


def test_describe_shows_the_zone_and_utc():
    instant = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert describe(instant, NY) == "2026-12-08 09:00 EST (America/New_York) = 14:00 UTC"
    assert describe(instant, "UTC") == "2026-12-08 14:00 UTC"
    assert describe(instant, None) == "2026-12-08 14:00 UTC"
    late_evening = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)
    assert describe(late_evening, NY) == (
        "2026-12-08 21:00 EST (America/New_York) = 2026-12-09 02:00 UTC"
    )


def test_durations_and_lateness_in_words():
    assert duration(timedelta(seconds=45)) == "45 s"
    assert duration(timedelta(minutes=12, seconds=5)) == "12 min"
    assert duration(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert duration(timedelta(hours=7)) == "7 h"
    assert duration(timedelta(days=3, hours=4)) == "3 d 4 h"
    due = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert not is_late(due, due + timedelta(seconds=60))
    assert is_late(due, due + timedelta(seconds=61))
