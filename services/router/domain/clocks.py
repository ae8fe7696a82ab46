"""Deadlines in English and Welsh working days (weekends and bank holidays excluded, from the
``holidays`` library) or in hours. Day boundaries are London's; instants are UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from schemas.calendar import LONDON, england_day


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv="ENG", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same London clock time ``days`` working days later: Friday 10:00 plus one working
    day is Monday 10:00 (or Tuesday after a bank-holiday Monday). Something that arrives on
    a weekend or bank holiday counts from the start of the next working day: Saturday plus
    one working day is the end of Monday."""
    local = start.astimezone(LONDON)
    if days > 0 and not is_working_day(england_day(start)):
        next_day = england_day(start) + timedelta(days=1)
        while not is_working_day(next_day):
            next_day += timedelta(days=1)
        local = datetime.combine(next_day, time.min, tzinfo=LONDON)
    day = england_day(local)
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    moved = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LONDON)
    return moved.astimezone(UTC)


def add_hours(start: datetime, hours: float) -> datetime:
    return (start + timedelta(hours=hours)).astimezone(UTC)
