"""Changing contact details (issue 26): the change is validated as a submission's contact is,
names only the fields that changed, never repeats a value in an error; and a provider's
contact attempt on a channel the change made stale is refused until it reads the new
details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.codes import ContactChannel, ContactField, Source
from services.provider_adapter.domain import contact_change as at_provider
from services.referral_intake.domain.contact_change import InvalidChange, apply_change
from services.referral_intake.domain.referral import Contact, ContactChange
from tests.support.referrals import BASE

# The contact details of the tests' usual referral, as intake's vault keeps them.
ON_RECORD: dict[str, Any] = {**BASE["contact"], "relationship": "self"}


def _change(**given: Any) -> tuple[dict[str, Any], list[ContactField]]:
    body = ContactChange.model_validate(given)
    return apply_change(ON_RECORD, body.given(), source=Source.POLICE_OFFICER, subject_named=False)


def test_the_change_model_has_every_contact_field_and_nothing_else() -> None:
    assert set(ContactChange.model_fields) == set(Contact.model_fields)
    assert {f.value for f in ContactField} == set(Contact.model_fields)


def test_a_new_phone_and_not_safe_to_contact_are_the_fields_that_changed() -> None:
    after, changed = _change(phone="07700 900999", safe_to_contact=False)
    assert changed == [ContactField.PHONE, ContactField.SAFE_TO_CONTACT]
    assert after["phone"] == "07700 900999"
    assert after["safe_to_contact"] is False
    assert after["email"] == ON_RECORD["email"]  # what the change leaves out stays


def test_repeating_what_is_on_record_changes_nothing() -> None:
    _, changed = _change(phone=" 07700 900000 ", email=ON_RECORD["email"])
    assert changed == []


def test_null_removes_an_optional_field() -> None:
    after, changed = _change(email=None)
    assert after["email"] is None
    assert changed == [ContactField.EMAIL]


@pytest.mark.parametrize(
    ("given_", "field"),
    [
        ({"phone": "call 07700 900111 after six"}, "phone"),
        ({"email": "not an address"}, "email"),
        ({"safe_to_contact": None}, "safe_to_contact"),
        ({"relationship": None}, "relationship"),
        ({"preferred_channel": "carrier_pigeon"}, "preferred_channel"),
        ({"safe_contact_notes": "x" * 1001}, "safe_contact_notes"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field_and_never_repeating_it(
    given_: dict[str, Any], field: str
) -> None:
    errors: list[dict[str, str]] = []
    try:
        _change(**given_)
    except InvalidChange as exc:
        errors = exc.errors
    except ValidationError as exc:
        errors = [
            {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
    assert [e["field"] for e in errors] == [field]
    value = next(iter(given_.values()))
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(errors)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        ContactChange.model_validate({"phone": "07700 900111", "date_of_birth": "1990-01-01"})
    assert [e["loc"] for e in refused.value.errors()] == [("date_of_birth",)]
    assert "1990" not in str(refused.value)


def test_an_empty_change_is_refused() -> None:
    with pytest.raises(InvalidChange) as refused:
        _change()
    assert refused.value.errors[0]["field"] == "(body)"


def test_removing_the_last_means_of_contact_is_refused() -> None:
    only_phone = {**ON_RECORD, "email": None, "address": None}
    with pytest.raises(InvalidChange) as refused:
        apply_change(only_phone, {"phone": None}, source=Source.POLICE_OFFICER, subject_named=False)
    assert [e["field"] for e in refused.value.errors] == ["phone"]
    # A self-referral that says how to reach them needs none (as on submission).
    after, _ = apply_change(
        only_phone, {"phone": None}, source=Source.SELF_REFERRAL, subject_named=False
    )
    assert after["phone"] is None


def test_a_contact_who_is_someone_else_needs_the_person_referred_named() -> None:
    with pytest.raises(InvalidChange) as refused:
        _change(relationship="parent")
    assert [e["field"] for e in refused.value.errors] == ["relationship"]
    _, changed = apply_change(
        ON_RECORD, {"relationship": "parent"}, source=Source.POLICE_OFFICER, subject_named=True
    )
    assert changed == [ContactField.RELATIONSHIP]


PHONES = st.from_regex(r"07[0-9]{3} [0-9]{6}", fullmatch=True)


@given(
    phone=st.none() | PHONES,
    safe=st.none() | st.booleans(),
    notes=st.none() | st.text(alphabet="abcdefghij ", min_size=1, max_size=40),
)
def test_only_fields_whose_value_differs_are_named(
    phone: str | None, safe: bool | None, notes: str | None
) -> None:
    given_ = {
        k: v
        for k, v in {"phone": phone, "safe_to_contact": safe, "safe_contact_notes": notes}.items()
        if v is not None
    }
    if not given_:
        return
    after, changed = _change(**given_)
    for field in ContactField:
        differs = after.get(field.value) != ON_RECORD.get(field.value)
        assert (field in changed) is differs
        assert field in changed or after.get(field.value) == ON_RECORD.get(field.value)


# ---- at the provider -------------------------------------------------------------------------
CHANGED_AT = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_a_new_phone_makes_calls_and_texts_stale_not_emails() -> None:
    assert at_provider.stale_channels(["phone"]) == {ContactChannel.PHONE, ContactChannel.SMS}
    assert at_provider.stale_channels(["name"]) == frozenset()
    assert at_provider.stale_channels(["safe_to_contact"]) == frozenset(ContactChannel)


def test_an_attempt_after_the_change_on_a_stale_channel_is_refused_with_a_sentence() -> None:
    after = CHANGED_AT + timedelta(minutes=5)
    sentence = at_provider.refusal(
        CHANGED_AT, ["phone"], attempt_at=after, channel=ContactChannel.PHONE
    )
    assert sentence is not None
    assert "changed" in sentence
    assert "phone" in sentence
    assert (
        at_provider.refusal(CHANGED_AT, ["phone"], attempt_at=after, channel=ContactChannel.EMAIL)
        is None
    )


def test_an_attempt_made_before_the_change_or_after_reading_is_taken() -> None:
    before = CHANGED_AT - timedelta(hours=1)
    assert (
        at_provider.refusal(CHANGED_AT, ["phone"], attempt_at=before, channel=ContactChannel.PHONE)
        is None
    )
    assert (
        at_provider.refusal(None, [], attempt_at=CHANGED_AT, channel=ContactChannel.PHONE) is None
    )


def test_the_marker_names_fields_and_when() -> None:
    assert at_provider.marker(None, []) is None
    assert at_provider.marker(CHANGED_AT, ["phone"]) == {
        "at": CHANGED_AT.isoformat(),
        "fields": ["phone"],
    }


def test_an_attempt_recorded_to_the_minute_of_the_change_counts_as_after_it() -> None:
    changed = CHANGED_AT.replace(second=40)
    same_minute = CHANGED_AT.replace(second=0)
    assert (
        at_provider.refusal(changed, ["phone"], attempt_at=same_minute, channel=ContactChannel.SMS)
        is not None
    )
