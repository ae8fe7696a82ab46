"""Matching people and crimes by keyed hashes of normalised fields (issue 14, cases 2, 3
and 5): a table of pairs that must match and pairs that must not, and generated variants
of names and numbers."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.codes import Role
from services.referral_intake.domain.identity import (
    OnRecord,
    identity_keys,
    match,
    normalise_crime_reference,
    normalise_name,
    normalise_phone,
    same_person,
    subject_name,
)
from services.referral_intake.domain.referral import ReferralRequest
from tests.support.referrals import BASE, apply

KEY = b"k" * 32
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _request(**changes: Any) -> ReferralRequest:
    """The base referral with only ``changes`` (dotted paths with ``__``); no date of birth
    unless given, and then no age."""
    body = apply(BASE, {k.replace("__", "."): v for k, v in changes.items()})
    if "subject__date_of_birth" in changes:
        del body["subject"]["age"]
    return ReferralRequest.model_validate(body)


def _age(request: ReferralRequest) -> int:
    born = request.subject.date_of_birth
    if born is None:
        assert request.subject.age is not None
        return request.subject.age
    return 2026 - born.year - ((born.month, born.day) > (11, 20))


def _same(a: ReferralRequest, b: ReferralRequest) -> bool:
    return same_person(identity_keys(a, KEY), _age(a), identity_keys(b, KEY), _age(b))


def _on_record(request: ReferralRequest, *, is_open: bool = True, days_ago: int = 2) -> OnRecord:
    at = NOW - timedelta(days=days_ago)
    return OnRecord(
        referral_id=uuid.uuid4(),
        keys=identity_keys(request, KEY),
        role=request.subject.role,
        age=_age(request),
        open=is_open,
        received_at=at,
        last_submitted_at=at,
    )


DOB = {"subject__date_of_birth": "1990-03-04"}
PARENT = {"contact__relationship": "parent", "contact__name": "Parent Qasibling"}


def _spelt(why: str, first: str, second: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A case of two referrals with one date of birth whose contact names differ only as
    ``first`` and ``second``."""
    return (why, {"contact__name": first, **DOB}, {"contact__name": second, **DOB})


MUST_MATCH: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    _spelt("an apostrophe (case 5)", "Siobhan O'Qabrien", "Siobhan OQabrien"),
    _spelt("spacing, case and a hyphen", "Mary-Ann  Qsmith", "MARY ANN QSMITH"),
    _spelt("Cyrillic, twice (case 5)", "Олена Шевченко", "ОЛЕНА  ШЕВЧЕНКО"),
    _spelt("Cyrillic and its Latin transliteration", "Олена Шевченко", "Olena Shevchenko"),
    _spelt(
        "Arabic, twice, with and without vowel marks (case 5)", "فاطمة الزهراء", "فَاطِمَة الزَّهْرَاء"
    ),
    _spelt("Chinese", "王伟", "王 伟"),
    _spelt("Greek, accents and capitals", "Γιώργος Παπαδόπουλος", "ΓΙΩΡΓΟΣ ΠΑΠΑΔΟΠΟΥΛΟΣ"),
    _spelt("Vietnamese accents", "Nguyễn Văn An", "Nguyen Van An"),
    _spelt("full-width letters", "\uff26\uff49\uff4f\uff4e\uff41 \uff31lee", "Fiona Qlee"),
    (
        "one number written three ways (no date of birth)",
        {"contact__name": "Sam Qlee", "contact__phone": "07700 900123"},
        {"contact__name": "Sam Qlee", "contact__phone": "+44 (0)7700 900-123"},
    ),
    (
        "a birthday between two submissions with a stated age",
        {"contact__name": "Sam Qlee", "subject__age": 33},
        {"contact__name": "Sam Qlee", "contact__phone": "0044 7700 900000", "subject__age": 34},
    ),
    (
        "a date of birth once, an age once, one phone",
        {"contact__name": "Sam Qlee", **DOB},
        {"contact__name": "Sam Qlee", "subject__age": 36},
    ),
    (
        "a child named, reached through either parent",
        {**PARENT, "subject__name": "Amir Qasibling", "subject__date_of_birth": "2016-05-01"},
        {
            "contact__relationship": "parent",
            "contact__name": "Other Parent",
            "contact__phone": "07700 900777",
            "subject__name": "Amir Qasibling",
            "subject__date_of_birth": "2016-05-01",
        },
    ),
    (
        "a person's name given as subject.name and as their own contact name",
        {"contact__name": "Jo Qbright", **DOB},
        {"subject__name": "Jo Qbright", "contact__name": "Jo Qbright", **DOB},
    ),
]

MUST_NOT_MATCH: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    _spelt("twins: one date of birth, one phone, two names", "Ava Qtwin", "Isla Qtwin"),
    (
        "siblings through one parent (case 3, as the contract asks for it)",
        {**PARENT, "subject__name": "Amir Qasibling", "subject__age": 8},
        {**PARENT, "subject__name": "Zara Qasibling", "subject__age": 12},
    ),
    (
        "siblings through one parent, sent without subject.name (case 3, as filed)",
        {"contact__name": "Parent Qasibling", "contact__phone": "07700 900305", "subject__age": 8},
        {"contact__name": "Parent Qasibling", "contact__phone": "07700 900305", "subject__age": 12},
    ),
    (
        "a parent and child: one surname, one phone",
        {"contact__name": "Dana Qsmith", "subject__age": 41},
        {"contact__name": "Kai Qsmith", "subject__age": 12},
    ),
    (
        "a parent and child with one name and one phone, two dates of birth",
        {"contact__name": "Sam Qlee", "subject__date_of_birth": "1980-01-01"},
        {"contact__name": "Sam Qlee", "subject__date_of_birth": "2008-01-01"},
    ),
    (
        "one name, two dates of birth, two phones",
        {"contact__name": "Sam Qlee", "contact__phone": "07700 900001", **DOB},
        {
            "contact__name": "Sam Qlee",
            "contact__phone": "07700 900002",
            "subject__date_of_birth": "1990-03-05",
        },
    ),
    (
        "the parent is not the child they call about",
        {"contact__name": "Parent Qasibling", "subject__age": 40},
        {**PARENT, "subject__name": "Amir Qasibling", "subject__age": 40},
    ),
]


@pytest.mark.parametrize(("why", "first", "second"), MUST_MATCH, ids=[m[0] for m in MUST_MATCH])
def test_the_same_person_written_differently_is_one_person(
    why: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    a, b = _request(**first), _request(**second)
    assert identity_keys(a, KEY).identifies
    assert _same(a, b), why
    assert _same(b, a), why


@pytest.mark.parametrize(
    ("why", "first", "second"), MUST_NOT_MATCH, ids=[m[0] for m in MUST_NOT_MATCH]
)
def test_different_people_are_never_one(
    why: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    a, b = _request(**first), _request(**second)
    assert not _same(a, b), why
    assert not _same(b, a), why


def test_the_subject_is_named_when_the_contact_is_someone_else() -> None:
    with pytest.raises(ValidationError, match=r"subject\.name\s+is required"):
        _request(**PARENT)
    child = _request(**PARENT, subject__name="Amir Qasibling")
    assert subject_name(child) == "Amir Qasibling"
    assert subject_name(_request(contact__name="Jo Qbright")) == "Jo Qbright"
    # A parent's name is never the child's identity: a professional contact without the
    # child's name would have been refused above, and a contact who is someone else
    # never lends their name.
    assert subject_name(child) != child.contact.name if child.contact else True


def test_names_phones_and_references_are_normalised() -> None:
    assert normalise_name("  Zoë  O'Brien-SMITH ") == "zoeobriensmith"
    assert normalise_name("Олена Шевченко") == "olenashevchenko"
    assert normalise_name("'?!") == ""
    assert normalise_phone("+44 7700 900-123") == normalise_phone("07700900123") == "+447700900123"
    assert normalise_phone("+1 202 555 0143") == "+12025550143"
    assert normalise_phone("12") is None
    assert normalise_crime_reference(" 22/12345/23 ") == normalise_crime_reference("22-12345-23")


def test_keys_reveal_nothing_and_depend_on_the_secret() -> None:
    request = _request(contact__name="Zoë Brown", **DOB)
    keys = identity_keys(request, KEY)
    assert keys.person is not None
    assert "brown" not in keys.person
    assert identity_keys(request, b"x" * 32).person != keys.person


# ---- the same referral, or a new one cross-linked ------------------------------------------
def test_same_person_role_and_crime_while_open_is_the_same_referral() -> None:
    first = _request(contact__name="Rowan Qrepeat", crime_reference="RR/1/26", **DOB)
    again = _request(contact__name="rowan qrepeat", crime_reference="rr-1-26", **DOB)
    record = _on_record(first)
    found = match(identity_keys(again, KEY), Role.VICTIM, _age(again), [record], NOW)
    assert found.same_referral is record
    assert found.same_person == ()


def test_case_2_a_suspect_who_is_now_a_victim_is_a_new_referral_cross_linked() -> None:
    suspect = _request(
        contact__name="Casey Qcounter", crime_reference="CA/2/26", subject__role="suspect", **DOB
    )
    victim = _request(contact__name="Casey Qcounter", crime_reference="CA/2/26", **DOB)
    record = _on_record(suspect)
    found = match(identity_keys(victim, KEY), Role.VICTIM, _age(victim), [record], NOW)
    assert found.same_referral is None
    assert found.same_person == (record,)
    assert found.repeat_victim is False  # a suspect before, not a victim


def test_case_3_siblings_through_one_parent_are_two_referrals() -> None:
    eight = _request(
        contact__name="Parent Qasibling", contact__phone="07700 900305", subject__age=8
    )
    twelve = _request(
        contact__name="Parent Qasibling", contact__phone="07700 900305", subject__age=12
    )
    found = match(identity_keys(twelve, KEY), Role.VICTIM, 12, [_on_record(eight)], NOW)
    assert found.same_referral is None
    assert found.same_person == ()


@pytest.mark.parametrize(
    ("why", "record_changes", "is_open", "days_ago"),
    [
        ("another crime", {"crime_reference": "OT/9/26"}, True, 2),
        (
            "no crime reference: no crime can be shown to be the same",
            {"crime_reference": None},
            True,
            2,
        ),
        ("the referral is closed", {}, False, 2),
        ("its latest submission was over 30 days ago", {}, True, 31),
    ],
)
def test_otherwise_a_new_referral_cross_linked_and_a_repeat_victim(
    why: str, record_changes: dict[str, Any], is_open: bool, days_ago: int
) -> None:
    person = {"contact__name": "Rowan Qrepeat", "crime_reference": "RR/1/26", **DOB}
    record = _on_record(
        _request(**{**person, **record_changes}), is_open=is_open, days_ago=days_ago
    )
    new = (
        _request(**person)
        if record_changes.get("crime_reference", "") is not None
        else _request(**{**person, "crime_reference": None})
    )
    found = match(identity_keys(new, KEY), Role.VICTIM, _age(new), [record], NOW)
    assert found.same_referral is None, why
    assert found.same_person == (record,), why
    assert found.repeat_victim, why


def test_a_year_on_the_person_is_no_longer_linked() -> None:
    person = {"contact__name": "Rowan Qrepeat", "crime_reference": "RR/1/26", **DOB}
    record = _on_record(_request(**person), is_open=False, days_ago=400)
    found = match(identity_keys(_request(**person), KEY), Role.VICTIM, 36, [record], NOW)
    assert found == type(found)(same_referral=None, same_person=(), repeat_victim=False)


# ---- generated variants -------------------------------------------------------------------
SCRIPTS = [
    (0x41, 0x5A),  # Latin capitals
    (0x61, 0x7A),  # Latin small letters
    (0xC0, 0xFF),  # Latin-1 letters
    (0x391, 0x3A9),  # Greek capitals
    (0x410, 0x44F),  # Cyrillic
    (0x5D0, 0x5EA),  # Hebrew
    (0x627, 0x64A),  # Arabic letters
    (0x905, 0x939),  # Devanagari
    (0xE01, 0xE2E),  # Thai
    (0x4E00, 0x4FFF),  # CJK ideographs
    (0xAC00, 0xAFFF),  # Hangul syllables
]
# Letters proper (not modifier letters such as the Arabic tatweel, a stretching stroke).
letters = st.sampled_from(SCRIPTS).flatmap(
    lambda r: st.characters(
        min_codepoint=r[0], max_codepoint=r[1], categories=["Lu", "Ll", "Lt", "Lo"]
    )
)
names = st.lists(st.text(letters, min_size=1, max_size=6), min_size=1, max_size=3).map(" ".join)


@given(names)
def test_every_script_gives_a_name_key(name: str) -> None:
    assert normalise_name(name) != ""


@given(names, st.data())
def test_case_spacing_punctuation_and_composition_do_not_change_a_name(
    name: str, data: st.DataObject
) -> None:
    variant = data.draw(
        st.sampled_from(
            [
                name.upper(),
                name.lower(),
                name.replace(" ", "  "),
                name.replace(" ", "-"),
                name.replace(" ", ""),
                f"  {name}. ",
                "'".join(name),
                unicodedata.normalize("NFD", name),
                unicodedata.normalize("NFKC", name),
            ]
        )
    )
    assert normalise_name(variant) == normalise_name(name)


uk_mobiles = st.integers(min_value=0, max_value=999_999).map(lambda n: f"7700{n:06d}")


@given(uk_mobiles, st.data())
def test_every_written_form_of_a_number_is_one_key(national: str, data: st.DataObject) -> None:
    a, b, c = national[:4], national[4:7], national[7:]
    form = data.draw(
        st.sampled_from(
            [
                f"0{national}",
                f"0{a} {b}{c}",
                f"0{a} {b} {c}",
                f"+44{national}",
                f"+44 {a} {b} {c}",
                f"+44 (0){a} {b}-{c}",
                f"0044 {a} {b}{c}",
                f"(0{a}) {b} {c}",
                f"0{a}-{b}-{c}",
            ]
        )
    )
    assert normalise_phone(form) == f"+44{national}"
