"""Working days in England and Wales, from the holidays library."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.router.domain.clocks import add_hours, add_working_days, is_working_day


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 12, 25), False),  # Christmas Day, a Friday
        (date(2026, 12, 28), False),  # Boxing Day falls on Saturday: substitute Monday
        (date(2026, 8, 31), False),  # Summer bank holiday (England and Wales, not Scotland)
        (date(2026, 8, 3), True),  # Scotland's summer bank holiday is not ours
    ],
)
def test_working_days_exclude_weekends_and_english_bank_holidays(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_friday_plus_one_working_day_is_monday_same_time() -> None:
    friday = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert add_working_days(friday, 1) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_christmas_week_skips_three_holidays_and_a_weekend() -> None:
    christmas_eve = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    assert add_working_days(christmas_eve, 2) == datetime(2026, 12, 30, 10, 0, tzinfo=UTC)


def test_london_clock_time_is_kept_across_the_change_to_summer_time() -> None:
    friday = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # 09:00 GMT
    monday = add_working_days(friday, 1)
    assert monday == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 BST


def test_a_saturday_referral_counts_from_the_next_working_day() -> None:
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert add_working_days(saturday, 1) == datetime(
        2026, 11, 24, 0, 0, tzinfo=UTC
    )  # end of Monday
    assert add_working_days(saturday, 2) == datetime(
        2026, 11, 25, 0, 0, tzinfo=UTC
    )  # end of Tuesday


def test_hours_are_plain_hours() -> None:
    start = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    assert add_hours(start, 4) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Easter 2027: Good Friday 26 March and Easter Monday 29 March are bank holidays.
        (datetime(2027, 3, 25, 12, 0, tzinfo=UTC), 1, datetime(2027, 3, 30, 11, 0, tzinfo=UTC)),
        # The August bank holiday (31 August 2026) in England and Wales.
        (datetime(2026, 8, 28, 9, 0, tzinfo=UTC), 1, datetime(2026, 9, 1, 9, 0, tzinfo=UTC)),
        # Boxing Day 2026 is a Saturday: its substitute is Monday 28 December.
        (datetime(2026, 12, 23, 16, 0, tzinfo=UTC), 2, datetime(2026, 12, 29, 16, 0, tzinfo=UTC)),
        # New Year's Day 2027 is a Friday.
        (datetime(2026, 12, 31, 10, 0, tzinfo=UTC), 1, datetime(2027, 1, 4, 10, 0, tzinfo=UTC)),
    ],
)
def test_bank_holidays_move_deadlines(start: datetime, days: int, due: datetime) -> None:
    assert add_working_days(start, days) == due


def test_edges_of_the_day_follow_the_london_date() -> None:
    # 23:30 UTC on Friday 10 July 2026 is 00:30 on Saturday in London (BST): it counts from
    # Monday, so one working day ends at midnight London on Monday (23:00 UTC).
    late_friday_utc = datetime(2026, 7, 10, 23, 30, tzinfo=UTC)
    assert add_working_days(late_friday_utc, 1) == datetime(2026, 7, 13, 23, 0, tzinfo=UTC)
    # A minute before midnight London on a Thursday: one working day is Friday, same time.
    late_thursday = datetime(2026, 11, 19, 23, 59, tzinfo=UTC)
    assert add_working_days(late_thursday, 1) == datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
    # Just after midnight on the Saturday: the end of Monday.
    saturday_start = datetime(2026, 11, 21, 0, 1, tzinfo=UTC)
    assert add_working_days(saturday_start, 1) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def test_zero_working_days_is_now() -> None:
    start = datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert add_working_days(start, 0) == start
