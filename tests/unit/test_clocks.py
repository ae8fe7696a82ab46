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
    assert add_working_days(saturday, 1) == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_hours_are_plain_hours() -> None:
    start = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    assert add_hours(start, 4) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
