"""One calendar: the day in England, whatever offset an instant was written in (issue 14,
case 4), swept across midnight in BST and GMT."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.calendar import LONDON, day_start, days_between, england_day
from services.referral_intake.domain.periods import Period
from services.referral_intake.domain.referral import ReferralRequest, age_on, coded_facts
from services.router.adapters.policy_files import load_book
from tests.support.referrals import referral

# Offsets senders really use (and a few odd ones): the day must not depend on them.
OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
# Around London midnight, where the mistake bites: up to two hours either side.
NEAR_MIDNIGHT = st.integers(min_value=-7200, max_value=7199)


def _sexual_offence(dob: str, reported_at: str) -> ReferralRequest:
    body = referral(
        incident__crime_types=["sexual_offence"],
        incident__occurred_at=None,
        subject__date_of_birth=dob,
        crime_reported_at=reported_at,
        consent__recorded_at=None,
    )
    del body["subject"]["age"]
    return ReferralRequest.model_validate(body)


@pytest.mark.parametrize(
    "reported_at",
    ["2026-07-14T23:30:00Z", "2026-07-15T00:30:00+01:00", "2026-07-14T18:30:00-05:00"],
)
def test_case_4_the_18th_birthday_is_the_london_day_whatever_the_offset(reported_at: str) -> None:
    # 23:30 UTC on 14 July is 00:30 BST on 15 July: the 18th birthday, so an adult (ISVA
    # adult), written in any offset. Before the fix the Z form gave 17 (ISVA child).
    request = _sexual_offence("2008-07-15", reported_at)
    facts = coded_facts(request, uuid.uuid4(), datetime(2026, 7, 16, tzinfo=UTC))
    assert facts.subject.age == 18


def test_the_minute_before_london_midnight_is_still_17() -> None:
    request = _sexual_offence("2008-07-15", "2026-07-14T22:59:00Z")  # 23:59 BST on the 14th
    facts = coded_facts(request, uuid.uuid4(), datetime(2026, 7, 16, tzinfo=UTC))
    assert facts.subject.age == 17


def test_in_winter_london_is_utc() -> None:
    assert england_day(datetime(2026, 1, 14, 23, 30, tzinfo=UTC)) == date(2026, 1, 14)
    assert england_day(datetime(2026, 1, 15, 0, 0, tzinfo=UTC)) == date(2026, 1, 15)
    assert england_day(datetime(2026, 7, 14, 23, 0, tzinfo=UTC)) == date(2026, 7, 15)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        england_day(datetime(2026, 7, 14, 23, 30))


@given(day=DAYS, seconds=NEAR_MIDNIGHT, offset=OFFSETS)
def test_the_day_of_an_instant_does_not_depend_on_how_it_was_written(
    day: date, seconds: int, offset: timezone
) -> None:
    instant = day_start(day) + timedelta(seconds=seconds)
    expected = day if seconds >= 0 else day - timedelta(days=1)
    assert england_day(instant) == expected
    assert england_day(instant.astimezone(offset)) == expected
    assert england_day(instant.astimezone(LONDON)) == expected


@given(day=DAYS)
def test_a_day_starts_at_london_midnight_and_lasts_23_24_or_25_hours(day: date) -> None:
    start, end = days_between(day, day)
    assert start.tzinfo is UTC
    assert start.astimezone(LONDON).hour == 0
    assert england_day(start) == day
    assert england_day(end - timedelta(microseconds=1)) == day
    assert england_day(end) == day + timedelta(days=1)
    assert end - start in {timedelta(hours=h) for h in (23, 24, 25)}
    # In summer the day starts at 23:00 UTC the evening before; in winter at 00:00 UTC.
    assert start.hour in (0, 23)


@given(
    born=st.dates(min_value=date(1950, 1, 1), max_value=date(2060, 12, 31)),
    seconds=NEAR_MIDNIGHT,
    offset=OFFSETS,
)
def test_an_age_turns_over_at_london_midnight_on_the_birthday(
    born: date, seconds: int, offset: timezone
) -> None:
    eighteenth = (
        born.replace(year=born.year + 18)
        if (born.month, born.day) != (2, 29)
        else (
            date(born.year + 18, 3, 1)  # a leapling comes of age on 1 March in a common year
            if not _leap(born.year + 18)
            else date(born.year + 18, 2, 29)
        )
    )
    instant = (day_start(eighteenth) + timedelta(seconds=seconds)).astimezone(offset)
    assert age_on(born, england_day(instant)) == (18 if seconds >= 0 else 17)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@given(day=DAYS, seconds=NEAR_MIDNIGHT)
def test_a_report_period_holds_exactly_the_instants_of_its_days(day: date, seconds: int) -> None:
    low, high = Period(day, day).bounds()
    instant = day_start(day) + timedelta(seconds=seconds)
    assert (low <= instant < high) == (england_day(instant) == day)


@pytest.mark.parametrize("reported_at", ["2026-07-14T23:30:00Z", "2026-07-15T00:30:00+01:00"])
def test_case_4_is_routed_to_the_adult_isva_both_ways(reported_at: str) -> None:
    policy = load_book().in_force(date(2026, 11, 21))
    request = _sexual_offence("2008-07-15", reported_at)
    decision = policy.decide(coded_facts(request, uuid.uuid4(), datetime(2026, 7, 16, tzinfo=UTC)))
    assert [(r.service.value, r.sub_service) for r in decision.routes] == [("ISVA", "adult")]
