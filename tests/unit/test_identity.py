"""Matching people and crimes by keyed hashes of normalised fields."""

from __future__ import annotations

from services.referral_intake.domain.identity import (
    identity_keys,
    normalise_crime_reference,
    normalise_name,
    normalise_phone,
)
from services.referral_intake.domain.referral import ReferralRequest
from tests.support.referrals import referral

KEY = b"k" * 32


def _request(**changes: object) -> ReferralRequest:
    return ReferralRequest.model_validate(referral(**changes))


def test_names_phones_and_references_are_normalised() -> None:
    assert normalise_name("  Zoë  O'Brien-SMITH ") == "zoe o brien smith"
    assert normalise_phone("+44 7700 900-123") == normalise_phone("07700900123") == "07700900123"
    assert normalise_crime_reference(" 22/12345/23 ") == normalise_crime_reference("22/12345/23")


def test_the_same_person_written_differently_gets_the_same_key() -> None:
    a = identity_keys(
        _request(
            contact__name="Zoë Brown",
            subject__date_of_birth="1990-01-02",
            crime_reference="22/1/26",
        ),
        KEY,
    )
    b = identity_keys(
        _request(
            contact__name="ZOE  brown",
            subject__date_of_birth="1990-01-02",
            crime_reference=" 22/1/26",
        ),
        KEY,
    )
    assert a == b
    assert a.person is not None
    assert a.crime is not None


def test_keys_reveal_nothing_and_depend_on_the_secret() -> None:
    request = _request(contact__name="Zoë Brown", subject__date_of_birth="1990-01-02")
    keys = identity_keys(request, KEY)
    assert keys.person is not None
    assert "brown" not in keys.person
    assert identity_keys(request, b"x" * 32).person != keys.person


def test_without_date_of_birth_the_phone_identifies_the_person() -> None:
    with_phone = identity_keys(
        _request(contact__name="Sam Lee", contact__phone="07700 900555"), KEY
    )
    other_phone = identity_keys(
        _request(contact__name="Sam Lee", contact__phone="07700 900556"), KEY
    )
    assert with_phone.person is not None
    assert with_phone.person != other_phone.person
