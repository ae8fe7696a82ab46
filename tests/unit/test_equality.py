"""Equality monitoring: the 2021 Census codes the API takes, not asked kept apart from prefer
not to say, and the report's counts and completeness from the monthly counters."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import equality
from services.referral_intake.domain.equality_report import equality_section, months_within
from services.referral_intake.domain.periods import Period
from services.referral_intake.domain.referral import ReferralRequest
from tests.support.referrals import referral


def test_the_code_lists_are_the_2021_census_categories() -> None:
    assert equality.characteristics() == (
        "ethnicity",
        "sex",
        "gender_identity_same_as_sex",
        "sexual_orientation",
        "disability",
        "religion",
    )
    assert len(equality.categories("ethnicity")) == 19  # the Census's 19 tick boxes
    assert "white_roma" in equality.categories("ethnicity")
    assert len(equality.categories("disability")) == 4
    assert len(equality.categories("religion")) == 8
    for name in equality.characteristics():
        assert "ons.gov.uk/census/census2021dictionary" in equality.source(name)
        assert set(equality.NOT_RECORDED).isdisjoint(equality.categories(name))


def test_equality_is_optional_and_not_asked_unless_given() -> None:
    request = ReferralRequest.model_validate(referral())
    assert request.equality_answers() == dict.fromkeys(equality.characteristics(), "not_asked")
    partial = ReferralRequest.model_validate(
        referral(
            equality={"ethnicity": "prefer_not_to_say", "disability": "disabled_limited_a_lot"}
        )
    )
    answers = partial.equality_answers()
    assert answers["ethnicity"] == "prefer_not_to_say"
    assert answers["disability"] == "disabled_limited_a_lot"
    assert answers["religion"] == "not_asked"
    # The answers are personal data: they go to the vault with the rest.
    assert partial.personal_data()["equality"] == answers


@pytest.mark.parametrize(
    "equality_in",
    [
        {"ethnicity": "Martian"},
        {"religion": "white_british"},  # a code of another characteristic
        {"sex": "not_stated"},  # the seeds' phrase is two facts here
        {"shoe_size": "9"},
    ],
)
def test_a_code_outside_the_census_is_refused_without_echoing_it(equality_in: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        ReferralRequest.model_validate(referral(equality=equality_in))
    assert caught.value.errors()[0]["loc"][0] == "equality"
    for value in equality_in.values():
        assert value not in str(caught.value)  # what the API shows: hide_input_in_errors


def test_months_within_a_period() -> None:
    q3 = Period(date(2026, 10, 1), date(2026, 12, 31))
    assert months_within(q3) == (date(2026, 10, 1), date(2026, 12, 1))
    assert months_within(Period(date(2026, 10, 15), date(2027, 1, 31))) == (
        date(2026, 11, 1),
        date(2027, 1, 1),
    )
    assert months_within(Period(date(2026, 10, 2), date(2026, 10, 30))) is None


def test_counts_and_completeness_overall_and_by_source() -> None:
    rows = [
        {
            "source": "police_officer",
            "characteristic": "ethnicity",
            "category": "white_british",
            "referrals": 5,
        },
        {
            "source": "police_officer",
            "characteristic": "ethnicity",
            "category": "not_asked",
            "referrals": 3,
        },
        {
            "source": "val",
            "characteristic": "ethnicity",
            "category": "asian_indian",
            "referrals": 2,
        },
        {
            "source": "val",
            "characteristic": "ethnicity",
            "category": "prefer_not_to_say",
            "referrals": 4,
        },
        {"source": "val", "characteristic": "sex", "category": "female", "referrals": 6},
        {
            "source": "police_officer",
            "characteristic": "sex",
            "category": "not_asked",
            "referrals": 8,
        },
    ]
    section = equality_section(rows, (date(2026, 10, 1), date(2026, 12, 1)))
    assert (section["from"], section["to"]) == ("2026-10-01", "2026-12-31")
    ethnicity = section["characteristics"]["ethnicity"]
    assert ethnicity["categories"]["white_british"] == 5
    assert ethnicity["categories"]["asian_indian"] == 2
    assert ethnicity["categories"]["white_roma"] == 0
    assert (ethnicity["recorded"], ethnicity["prefer_not_to_say"], ethnicity["not_asked"]) == (
        7,
        4,
        3,
    )
    assert ethnicity["referrals"] == section["referrals"] == 14
    assert ethnicity["recorded_rate"] == 0.5
    police = section["by_source"]["police_officer"]["characteristics"]
    assert police["sex"]["not_asked"] == 8
    assert police["sex"]["recorded_rate"] == 0
    assert section["by_source"]["val"]["characteristics"]["sex"]["recorded_rate"] == 1
    assert section["by_source"]["hospital"]["referrals"] == 0
    assert section["by_source"]["hospital"]["characteristics"]["sex"]["recorded_rate"] is None
