"""The referral as submitted: what intake accepts, and what it lets out as coded facts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.referral_intake.domain.referral import ReferralRequest, age_on, coded_facts
from tests.support.referrals import marked, referral

RECEIVED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_contract_example_is_accepted() -> None:
    body, _ = marked()
    request = ReferralRequest.model_validate(body)
    assert request.subject.date_of_birth == date(1987, 3, 14)


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(1991, 4, 2), date(2026, 4, 1), 34),
        (date(1991, 4, 2), date(2026, 4, 2), 35),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
    ],
)
def test_age_is_whole_years_completed(born: date, on: date, age: int) -> None:
    assert age_on(born, on) == age


def test_age_is_measured_on_the_day_the_crime_was_reported_not_today() -> None:
    body = referral(subject__date_of_birth="2008-11-20", crime_reported_at="2026-11-19T10:00:00Z")
    del body["subject"]["age"]
    facts = coded_facts(ReferralRequest.model_validate(body), uuid.uuid4(), RECEIVED)
    assert facts.subject.age == 17  # turned 18 the day after the report


def test_without_a_report_time_age_is_measured_on_receipt() -> None:
    body = referral(subject__date_of_birth="2008-11-20", crime_reported_at=None)
    del body["subject"]["age"]
    facts = coded_facts(ReferralRequest.model_validate(body), uuid.uuid4(), RECEIVED)
    assert facts.subject.age == 18
    assert facts.reported_at is None


def test_coded_facts_carry_nothing_personal() -> None:
    body, markers = marked()
    facts = coded_facts(ReferralRequest.model_validate(body), uuid.uuid4(), RECEIVED)
    dumped = facts.model_dump_json()
    for marker in markers:
        assert marker not in dumped
    assert "gender" not in dumped
    assert facts.contact.preferred_channel == "phone"


def test_personal_data_holds_what_facts_leave_out() -> None:
    body, markers = marked()
    personal = ReferralRequest.model_validate(body).personal_data()
    assert personal["contact"]["name"] in markers
    assert personal["date_of_birth"] == "1987-03-14"
    assert personal["crime_reference"] in markers


def test_errors_name_fields_but_never_repeat_the_input() -> None:
    body = referral(contact__email="Secret Person <nowhere>", surprise="Secret Person")
    with pytest.raises(ValidationError) as caught:
        ReferralRequest.model_validate(body)
    text = str(caught.value)
    assert "contact.email" in text
    assert "surprise" in text
    assert "Secret Person" not in text


def test_vulnerabilities_must_be_codes_not_free_text() -> None:
    with pytest.raises(ValidationError):
        ReferralRequest.model_validate(referral(subject__vulnerabilities=["lives with J. Smith"]))


def test_the_facts_of_policy_version_2_are_accepted_and_reach_the_router() -> None:
    body = referral(
        incident__crime_types=["serious_violence", "stalking", "forced_marriage"],
        incident__homicide=True,
        assessment__dash={"yes_count": None, "professional_judgement_high": True},
        assessment__children_in_household=3,
        subject__bereaved_relative=True,
    )
    facts = coded_facts(ReferralRequest.model_validate(body), uuid.uuid4(), RECEIVED)
    assert facts.incident.crime_types == ["serious_violence", "stalking", "forced_marriage"]
    assert facts.incident.homicide is True
    assert facts.incident.fatal is False
    assert facts.assessment.children_in_household == 3
    assert facts.assessment.dash is not None
    assert facts.assessment.dash.yes_count is None
    assert facts.assessment.dash.professional_judgement_high is True


def test_a_version_1_referral_gets_the_defaults_version_1_ignores() -> None:
    facts = coded_facts(ReferralRequest.model_validate(referral()), uuid.uuid4(), RECEIVED)
    assert (facts.incident.homicide, facts.incident.fatal) == (False, False)
    assert facts.assessment.children_in_household == 0


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        (
            {"assessment__dash": {"yes_count": None, "professional_judgement_high": False}},
            "assessment.dash.yes_count",
            "is required unless professional_judgement_high",
        ),
        ({"assessment__dash": {}}, "assessment.dash.yes_count", "is required"),
        (
            {"incident__crime_types": ["domestic_abuse"], "incident__homicide": True},
            "incident.crime_types",
            "must include serious_violence when homicide",
        ),
        ({"incident__fatal": True}, "incident.crime_types", "must include road_collision"),
        ({"assessment__children_in_household": -1}, "children_in_household", ""),
        ({"assessment__children_in_household": 2.5}, "children_in_household", ""),
        ({"incident__crime_types": ["stalkers"]}, "crime_types", ""),
    ],
)
def test_version_2_facts_that_make_no_sense_are_refused_naming_the_field(
    changes: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ReferralRequest.model_validate(referral(**changes))
    text = str(caught.value)
    assert field in text
    assert says in text
