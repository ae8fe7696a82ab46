"""Reporting periods: a date range, or the financial year (April to March) and its quarters
(Q1 = April to June … Q4 = January to March). Days are London's; instants are UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas.calendar import days_between

MAX_DAYS = 5 * 366
"""The longest range a report covers: five financial years."""

_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})(?:Q([1-4]))?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
"""The days a report can cover."""
PERIOD_HELP = (
    "a financial year such as 2026-27, or one of its quarters such as 2026-27Q3 "
    "(Q1 is April to June, Q4 is January to March)"
)


def period_pattern() -> str:
    """``period`` as the API reads it, as a pattern for the published schema: every
    financial year it can cover (``2026-27``, the second half agreeing), or a quarter of one."""
    years = "|".join(year_label(year) for year in range(EARLIEST.year, LATEST.year))
    return rf"^({years})(Q[1-4])?$"


DAY_PATTERN = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"
"""``from`` and ``to`` in the published schema: a day from ``EARLIEST`` to ``LATEST``."""


class PeriodError(ValueError):
    """The period asked for is not one; ``errors`` names each field and what is wrong."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


# ---- quarters, numbered from year 0 so that arithmetic works across years ---------------
def quarter_index(day: date) -> int:
    """The financial quarter ``day`` falls in, as one number (4 * year + quarter - 1)."""
    year = day.year if day.month >= 4 else day.year - 1
    return year * 4 + (day.month - 4) % 12 // 3


def quarter_start(index: int) -> date:
    year, q = divmod(index, 4)
    month = 4 + 3 * q
    return date(year + 1, month - 12, 1) if month > 12 else date(year, month, 1)


def quarter_end(index: int) -> date:
    return quarter_start(index + 1) - timedelta(days=1)


def year_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def quarter_label(index: int) -> str:
    year, q = divmod(index, 4)
    return f"{year_label(year)}Q{q + 1}"


def days_in_financial_year(year: int) -> int:
    return (date(year + 1, 4, 1) - date(year, 4, 1)).days


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    """Inclusive: a quarter ends on its last day."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def quarters(self) -> tuple[int, int] | None:
        """(first quarter index, number of quarters) when the period is whole quarters."""
        first, last = quarter_index(self.start), quarter_index(self.end)
        if quarter_start(first) == self.start and quarter_end(last) == self.end:
            return first, last - first + 1
        return None

    @property
    def label(self) -> str | None:
        """``2026-27Q3`` for a quarter, ``2026-27`` for a whole financial year."""
        whole = self.quarters
        if whole is None:
            return None
        first, count = whole
        if count == 1:
            return quarter_label(first)
        if count == 4 and first % 4 == 0:
            return year_label(first // 4)
        return None

    def bounds(self) -> tuple[datetime, datetime]:
        """London midnight at the start of ``start`` to London midnight after ``end``, in UTC:
        a referral received at 00:30 BST on 1 July belongs to July."""
        return days_between(self.start, self.end)

    def previous(self) -> Period:
        """The period before, to compare with: the previous quarter (or the same number of
        quarters) for whole quarters, otherwise as many days immediately before."""
        whole = self.quarters
        if whole is not None:
            first, count = whole
            return Period(quarter_start(first - count), quarter_end(first - 1))
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def quarter(index: int) -> Period:
    return Period(quarter_start(index), quarter_end(index))


def current_quarter(today: date) -> Period:
    return quarter(quarter_index(today))


def _parse_period(text: str) -> Period | None:
    match = _PERIOD.match(text)
    if not match:
        return None
    year, short, q = int(match[1]), int(match[2]), match[3]
    if short != (year + 1) % 100 or not EARLIEST.year <= year < LATEST.year:
        return None
    if q is None:
        return Period(date(year, 4, 1), date(year + 1, 3, 31))
    return quarter(year * 4 + int(q) - 1)


def _parse_date(field: str, text: str, errors: list[dict[str, str]]) -> date | None:
    try:
        if not _DATE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        errors.append({"field": field, "message": "must be a date written YYYY-MM-DD"})
        return None
    if not EARLIEST <= day <= LATEST:
        errors.append({"field": field, "message": f"must be between {EARLIEST} and {LATEST}"})
        return None
    return day


def parse_period(period: str | None, from_: str | None, to: str | None, *, today: date) -> Period:
    """The period a request names: ``period``, or ``from`` and ``to`` (both inclusive), or
    the current quarter when it names none."""
    errors: list[dict[str, str]] = []
    if period is not None and (from_ is not None or to is not None):
        errors.append({"field": "period", "message": "give either period, or from and to"})
        raise PeriodError(errors)
    if period is not None:
        parsed = _parse_period(period.strip())
        if parsed is None:
            raise PeriodError([{"field": "period", "message": f"must be {PERIOD_HELP}"}])
        return parsed
    if from_ is None and to is None:
        return current_quarter(today)
    for field, value in (("from", from_), ("to", to)):
        if value is None:
            errors.append({"field": field, "message": "is needed with the other end of the range"})
    start = _parse_date("from", from_, errors) if from_ is not None else None
    end = _parse_date("to", to, errors) if to is not None else None
    if start is not None and end is not None:
        if end < start:
            errors.append({"field": "to", "message": "must not be before from"})
        elif (end - start).days + 1 > MAX_DAYS:
            errors.append(
                {"field": "to", "message": f"the range may cover at most {MAX_DAYS} days"}
            )
    if errors or start is None or end is None:
        raise PeriodError(errors)
    return Period(start, end)
