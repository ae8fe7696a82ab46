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
