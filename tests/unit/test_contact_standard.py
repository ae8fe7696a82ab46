"""Each service's contact standard (schemas/contact_standards.json), judged on London's clock:
what counts, what is missing, and the sentence a caseworker reads when closing too early."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import contact_standards
from schemas.codes import ContactResult, Service
from services.provider_adapter.domain.contact_standard import StandardNotMet, progress

LONDON = ZoneInfo("Europe/London")
NO_ANSWER = ContactResult.NO_ANSWER


def _london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def _recent_day() -> date:
    return (datetime.now(UTC) - timedelta(days=3)).date()


def _summer_and_winter() -> tuple[date, date]:
    year = datetime.now(UTC).year - 1
    return date(year, 7, 15), date(year, 1, 15)


def test_every_service_has_a_standard_its_attempts_can_meet() -> None:
    for service in Service:
        standard = contact_standards.standard(service)
        assert standard.attempts >= standard.parts_of_day >= 1
        assert standard.source
    val = contact_standards.standard(Service.VAL)
    # Seed 000, line 19: "3 contact attempts at different times of day".
    assert (val.attempts, val.parts_of_day) == (3, 3)
    assert "seed 000" in val.source


def test_vals_three_attempts_at_three_parts_of_the_day_meet_it() -> None:
    day = _recent_day()
    standard = contact_standards.standard(Service.VAL)
    measured = progress(
        standard,
        [
            (_london(day, 9), NO_ANSWER),
            (_london(day, 13), NO_ANSWER),
            (_london(day, 18), NO_ANSWER),
        ],
    )
    assert measured.met
    assert measured.missing() == []
    assert measured.as_dict()["remaining"] == {
        "attempts": 0,
        "parts_of_day": 0,
        "parts_of_day_not_tried": [],
        "days": 0,
    }


def test_three_morning_calls_are_not_three_times_of_day() -> None:
    day = _recent_day()
    standard = contact_standards.standard(Service.VAL)
    measured = progress(standard, [(_london(day, h), NO_ANSWER) for h in (8, 9, 11)])
    assert not measured.met
    assert measured.parts_of_day == ("morning",)
    assert measured.parts_of_day_to_go == ("afternoon", "evening")
    sentence = StandardNotMet(measured).sentence
    assert "3 unanswered attempts" in sentence
    assert "2 attempts at another part of the day (afternoon or evening, London time)" in sentence


def test_one_unanswered_call_leaves_two_attempts_to_make() -> None:
    measured = progress(
        contact_standards.standard(Service.VAL), [(_london(_recent_day(), 10), NO_ANSWER)]
    )
    assert measured.as_dict()["made"] == {"attempts": 1, "parts_of_day": ["morning"], "days": 1}
    assert measured.missing()[0] == "2 more attempts"


def test_parts_of_the_day_are_londons_in_summer_and_in_winter() -> None:
    summer, winter = _summer_and_winter()
    standard = contact_standards.standard(Service.VAL)
    # 11:30 UTC is 12:30 in London in July (BST) but 11:30 in January (GMT).
    july = progress(standard, [(datetime.combine(summer, time(11, 30), tzinfo=UTC), NO_ANSWER)])
    january = progress(standard, [(datetime.combine(winter, time(11, 30), tzinfo=UTC), NO_ANSWER)])
    assert july.parts_of_day == ("afternoon",)
    assert january.parts_of_day == ("morning",)
    # 23:30 UTC on a July day is 00:30 the next London day: a second day, in the morning.
    late = progress(
        contact_standards.standard(Service.IDVA),
        [
            (datetime.combine(summer, time(14), tzinfo=UTC), NO_ANSWER),
            (datetime.combine(summer, time(23, 30), tzinfo=UTC), NO_ANSWER),
        ],
    )
    assert late.days == 2
    assert late.parts_of_day == ("morning", "afternoon")


def test_idva_needs_two_days() -> None:
    day = _recent_day()
    standard = contact_standards.standard(Service.IDVA)
    same_day = progress(standard, [(_london(day, h), NO_ANSWER) for h in (9, 13, 19)])
    assert not same_day.met
    assert same_day.missing() == ["1 attempt on another day"]
    spread = progress(
        standard,
        [
            (_london(day, 9), NO_ANSWER),
            (_london(day, 13), NO_ANSWER),
            (_london(day + timedelta(days=1), 19), NO_ANSWER),
        ],
    )
    assert spread.met


def test_a_person_once_reached_is_not_uncontactable() -> None:
    day = _recent_day()
    attempts = [(_london(day, h), NO_ANSWER) for h in (9, 13, 19)]
    attempts.append((_london(day, 20), ContactResult.CONTACTED))
    measured = progress(contact_standards.standard(Service.VAL), attempts)
    assert not measured.met
    assert "was reached" in StandardNotMet(measured).sentence


_ATTEMPTS = st.lists(
    st.tuples(
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ),
        st.sampled_from(
            [ContactResult.NO_ANSWER, ContactResult.WRONG_NUMBER, ContactResult.UNSAFE]
        ),
    ),
    max_size=8,
)


@given(service=st.sampled_from(list(Service)), attempts=_ATTEMPTS)
def test_met_exactly_when_nothing_is_missing(
    service: Service, attempts: list[tuple[datetime, ContactResult]]
) -> None:
    standard = contact_standards.standard(service)
    measured = progress(standard, attempts)
    assert measured.met == (measured.missing() == [])
    assert measured.attempts == len(attempts)
    london = [a.astimezone(LONDON) for a, _ in attempts]
    assert measured.days == len({a.date() for a in london})
    assert measured.met == (
        len(attempts) >= standard.attempts
        and len({contact_standards.part_of_day(a.time()) for a in london}) >= standard.parts_of_day
        and measured.days >= standard.days
    )


@pytest.mark.parametrize(
    ("clock", "part"),
    [
        (time(0), "morning"),
        (time(11, 59), "morning"),
        (time(12), "afternoon"),
        (time(16, 59), "afternoon"),
        (time(17), "evening"),
        (time(23, 59), "evening"),
    ],
)
def test_parts_of_the_day(clock: time, part: str) -> None:
    assert contact_standards.part_of_day(clock) == part
