"""A referral as the upstream UI submits it, and the coded facts derived from it.

The request model is the only place personal data enters the hub. ``coded_facts`` is the
boundary: what it returns may leave intake; what it leaves out stays in the vault.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas import equality
from schemas.calendar import england_day
from schemas.codes import (
    CceIndicator,
    ConsentStatus,
    ContactChannel,
    ContactRelationship,
    CrimeType,
    LocalAuthority,
    Need,
    Role,
    Source,
)
from schemas.events import (
    DASH_ASSESSED,
    MAX_CHILDREN_IN_HOUSEHOLD,
    MAX_VULNERABILITIES,
    AssessmentFacts,
    ContactFacts,
    Dash,
    DrugPossession,
    IncidentFacts,
    ReferralFacts,
    SubjectFacts,
)
from schemas.requests import (
    BLANKS,
    CONTROL,
    EACH_ONCE,
    Code,
    RequestBody,
    field_errors,
    stripped_pattern,
)

ShortText = Annotated[str, Field(min_length=1, max_length=200)]


EARLIEST = date(1900, 1, 1)
EARLIEST_INSTANT = datetime(1899, 12, 31, tzinfo=UTC)
MAX_AGE_YEARS = 130
FUTURE_SLACK = timedelta(days=1)
"""Clocks disagree a little; a report or incident more than a day ahead is a mistake."""


class Subject(RequestBody):
    # The cross-field rule in the published schema too (issue 19): a date of birth or an age.
    model_config = ConfigDict(
        json_schema_extra={
            "description": "The person referred. A date_of_birth or an age is required; a "
            "date of birth may not be after the crime was reported.",
            "anyOf": [
                {
                    "required": ["date_of_birth"],
                    "properties": {"date_of_birth": {"type": "string"}},
                },
                {"required": ["age"], "properties": {"age": {"type": "integer"}}},
            ],
        }
    )

    role: Role
    name: ShortText | None = None
    """The person referred, when the contact is someone else (personal data: vault)."""
    date_of_birth: date | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    gender: Annotated[str, Field(max_length=40)] | None = None
    vulnerabilities: Annotated[list[Code], Field(max_length=MAX_VULNERABILITIES), EACH_ONCE] = []
    persistently_targeted: bool = False
    intimidated: bool = False
    bereaved_relative: bool = False

    @model_validator(mode="after")
    def _age_known(self) -> Subject:
        if self.date_of_birth is None and self.age is None:
            # At both: a form shows the message by whichever of the two it asks for.
            needed = "either date_of_birth or age is required"
            raise field_errors((("date_of_birth",), needed), (("age",), needed))
        return self


# The published patterns say what the API counts: a phone number's length without the
# blanks around it (they are removed), and no control character in an email address.
Phone = Annotated[
    str,
    Field(
        min_length=3,
        max_length=40,
        pattern=r"^[0-9+() \-]+$",
        json_schema_extra={"pattern": stripped_pattern(r"[0-9+() \-]", r"[0-9+()\-]", 3)},
    ),
]
_EMAIL_PART = rf"[^@{BLANKS}{CONTROL}]+"
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        json_schema_extra={"pattern": rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"},
    ),
]
Address = Annotated[str, Field(min_length=1, max_length=500)]
SafeContactNotes = Annotated[str, Field(max_length=1000)]


class Contact(RequestBody):
    name: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    safe_to_contact: bool = True
    safe_contact_notes: SafeContactNotes | None = None
    preferred_channel: ContactChannel | None = None
    relationship: ContactRelationship = ContactRelationship.SELF
    """Who the contact is to the person referred (personal data: vault)."""

    def has_means_of_contact(self) -> bool:
        return any((self.phone, self.email, self.address))


class ContactChange(RequestBody):
    """Any subset of ``Contact``'s fields, each with the same type and constraints
    (``PATCH /v1/referrals/{id}/contact``); ``null`` removes an optional one. The fields
    given are applied to the details on record and the result validated as ``Contact``
    (``domain.contact_change``)."""

    name: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    safe_to_contact: bool | None = None
    safe_contact_notes: SafeContactNotes | None = None
    preferred_channel: ContactChannel | None = None
    relationship: ContactRelationship | None = None

    def given(self) -> dict[str, Any]:
        """The fields the body named, ``null`` ones included."""
        return self.model_dump(mode="json", include=self.model_fields_set)


class DrugPossessionIn(RequestBody):
    personal_use: bool
    intent_to_supply_suspected: bool = False
    previously_disengaged_from_diversion: bool = False


class DashIn(RequestBody):
    """The DASH risk checklist. Professional judgement that risk is high stands on its own
    (``{"yes_count": null, "professional_judgement_high": true}``); otherwise the count of yes
    answers is needed."""

    model_config = ConfigDict(json_schema_extra=DASH_ASSESSED)

    yes_count: int | None = Field(default=None, ge=0, le=27)
    professional_judgement_high: bool = False

    @model_validator(mode="after")
    def _something_assessed(self) -> DashIn:
        if self.yes_count is None and not self.professional_judgement_high:
            raise field_errors(
                (("yes_count",), "is required unless professional_judgement_high is true")
            )
        return self


def _needs_crime(flag: str, crime: CrimeType) -> dict[str, Any]:
    """JSON Schema for "``flag`` true needs ``crime`` among ``crime_types``"."""
    return {
        "if": {"required": [flag], "properties": {flag: {"const": True}}},
        "then": {"properties": {"crime_types": {"contains": {"const": crime.value}}}},
    }


class Incident(RequestBody):
    # The rules below in the published schema too (issue 19).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _needs_crime("homicide", CrimeType.SERIOUS_VIOLENCE),
                _needs_crime("fatal", CrimeType.ROAD_COLLISION),
            ]
        }
    )

    crime_types: Annotated[
        list[CrimeType], Field(min_length=1, max_length=len(CrimeType)), EACH_ONCE
    ]
    occurred_at: AwareDatetime | None = None
    drug_possession: DrugPossessionIn | None = None
    homicide: bool = False
    fatal: bool = False

    @model_validator(mode="after")
    def _deaths_have_their_crime(self) -> Incident:
        # The policy reads each fact with its crime (routing-policy.md, R-BEREAVED-HOMICIDE):
        # a death recorded without it would reach no one.
        wrong = []
        if self.homicide and CrimeType.SERIOUS_VIOLENCE not in self.crime_types:
            wrong.append((("crime_types",), "must include serious_violence when homicide is true"))
        if self.fatal and CrimeType.ROAD_COLLISION not in self.crime_types:
            wrong.append((("crime_types",), "must include road_collision when fatal is true"))
        if wrong:
            raise field_errors(*wrong)
        return self


class Assessment(RequestBody):
    needs: Annotated[list[Need], Field(min_length=1, max_length=len(Need)), EACH_ONCE]
    dash: DashIn | None = None
    da_incidents_last_12_months: int = Field(default=0, ge=0, le=1000)
    previous_marac_within_12_months: bool = False
    cce_indicators: Annotated[
        list[CceIndicator], Field(max_length=len(CceIndicator)), EACH_ONCE
    ] = []
    threat_to_life: bool = False
    hospital_setting: bool = False
    children_in_household: int = Field(default=0, ge=0, le=MAX_CHILDREN_IN_HOUSEHOLD)


class Consent(RequestBody):
    status: ConsentStatus
    recorded_at: AwareDatetime | None = None
    recorded_by: ShortText | None = None


def _census_codes(schema: dict[str, Any]) -> None:
    """``Equality._census_code``'s rule in the published schema: each one's codes."""
    for characteristic in equality.characteristics():
        schema["properties"][characteristic]["enum"] = list(equality.allowed(characteristic))


class Equality(RequestBody):
    """Equality monitoring, as the person referred answered it (contract: ``equality``): one
    code per characteristic from the 2021 Census categories (``schemas/equality.json``), or
    ``not_asked`` (the default) or ``prefer_not_to_say``. Special category data: it is kept
    in the vault and only counted outside it."""

    model_config = ConfigDict(json_schema_extra=_census_codes)

    ethnicity: str = equality.NOT_ASKED
    sex: str = equality.NOT_ASKED
    gender_identity_same_as_sex: str = equality.NOT_ASKED
    sexual_orientation: str = equality.NOT_ASKED
    disability: str = equality.NOT_ASKED
    religion: str = equality.NOT_ASKED

    @field_validator("*", mode="after")
    @classmethod
    def _census_code(cls, value: str, info: ValidationInfo) -> str:
        assert info.field_name is not None
        if value not in equality.allowed(info.field_name):
            # Never echo the value: it is special category data.
            raise ValueError(
                f"must be a 2021 Census code for {equality.title(info.field_name).lower()}, "
                "not_asked or prefer_not_to_say (schemas/equality.json)"
            )
        return value

    def answers(self) -> dict[str, str]:
        """Characteristic -> code, for every monitored characteristic."""
        return {name: getattr(self, name) for name in equality.characteristics()}


NOT_ASKED_AT_ALL = Equality()
"""Equality monitoring when the referral carries none: nothing was asked."""

CRIME_REFERENCE_PATTERN = (
    r"^(?:[0-9]|[A-Za-z][A-Za-z0-9/ -]*[0-9])(?:[A-Za-z0-9/ -]*[A-Za-z0-9/-])?$"
)
"""A police crime reference as forces write them (``CR/012345/24``, ``43/12345/25``,
``ABC-1234-2025``): letters, digits, ``/``, ``-`` and spaces, starting with a letter or a
digit, not ending with a space, and holding at least one digit. No other character, so no
sentence, email address or note; and a name, which has no digit, is refused too: the field
is not a place for personal data typed into the wrong box."""
CRIME_REFERENCE_LENGTH = (3, 40)


def _crime_reference(value: Any) -> Any:
    shortest, longest = CRIME_REFERENCE_LENGTH
    if not isinstance(value, str):
        return value  # the string's own check says what is wrong
    if shortest <= len(value) <= longest and re.fullmatch(CRIME_REFERENCE_PATTERN, value):
        return value
    raise ValueError(
        f"must be a police crime reference (such as CR/012345/24): {shortest} to {longest} "
        "letters, digits, spaces, / and -, with at least one digit; never a name or a note"
    )


# Checked as sent (before blanks are stripped), so that what the published pattern forbids
# is refused; the length with the characters, so that one sentence says what is wrong.
CrimeReference = Annotated[
    str,
    Field(
        json_schema_extra={
            "pattern": CRIME_REFERENCE_PATTERN,
            "minLength": CRIME_REFERENCE_LENGTH[0],
            "maxLength": CRIME_REFERENCE_LENGTH[1],
        }
    ),
    BeforeValidator(_crime_reference),
]


_NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}
_SELF_REFERRAL_WITH_CHANNEL: dict[str, Any] = {
    "required": ["source", "contact"],
    "properties": {
        "source": {"const": Source.SELF_REFERRAL.value},
        "contact": {
            "type": "object",
            "required": ["preferred_channel"],
            "properties": {"preferred_channel": _NOT_NULL},
        },
    },
}
_MEANS_OF_CONTACT: dict[str, Any] = {
    "required": ["contact"],
    "properties": {
        "contact": {
            "type": "object",
            "anyOf": [
                {"required": [means], "properties": {means: _NOT_NULL}}
                for means in ("phone", "email", "address")
            ],
        }
    },
}
_CONTACT_IS_SOMEONE_ELSE: dict[str, Any] = {
    "required": ["contact"],
    "properties": {
        "contact": {
            "type": "object",
            "required": ["relationship"],
            "properties": {"relationship": {"not": {"const": ContactRelationship.SELF.value}}},
        }
    },
}


class ReferralRequest(RequestBody):
    # The cross-field rules of the validators below in the published schema too (issue 19);
    # the dates' (between 1900 and now, a date of birth not after the report) are in the
    # descriptions, as JSON Schema has no "now" and compares no two fields.
    model_config = ConfigDict(
        json_schema_extra={
            "description": "A referral. contact is required, with a phone, email or address, "
            "unless a self-referral sets contact.preferred_channel; subject.name is required "
            "when the contact is someone else (contact.relationship not self). "
            "crime_reported_at and incident.occurred_at are between 1900 and now (a day's "
            "grace); subject.date_of_birth is not after the day the crime was reported (or "
            "today) and gives an age of at most 130 then.",
            "allOf": [
                {"anyOf": [_SELF_REFERRAL_WITH_CHANNEL, _MEANS_OF_CONTACT]},
                {
                    "if": _CONTACT_IS_SOMEONE_ELSE,
                    "then": {
                        "properties": {
                            "subject": {"required": ["name"], "properties": {"name": _NOT_NULL}}
                        }
                    },
                },
            ],
        }
    )

    source: Source
    crime_reference: CrimeReference | None = None
    crime_reported_at: AwareDatetime | None = None
    local_authority: LocalAuthority
    subject: Subject
    contact: Contact | None = None
    incident: Incident
    assessment: Assessment
    consent: Consent
    equality: Equality | None = None

    @model_validator(mode="after")
    def _dates_make_sense(self) -> ReferralRequest:
        now = datetime.now(UTC)
        wrong: list[tuple[tuple[str, ...], str]] = []
        for place, moment in (
            (("crime_reported_at",), self.crime_reported_at),
            (("incident", "occurred_at"), self.incident.occurred_at),
        ):
            # Compared as instants first: a day in England of year 1 or 9999 at some offsets
            # is outside what a date can hold (OverflowError, a 500).
            if moment is None:
                continue
            if moment > now + FUTURE_SLACK:
                wrong.append((place, "is in the future"))
            elif moment < EARLIEST_INSTANT or england_day(moment) < EARLIEST:
                wrong.append((place, "is before 1900"))
        born = self.subject.date_of_birth
        # A report date already refused says nothing about the date of birth (and one of
        # year 1 at some offsets has no day in England to compare it with).
        reported_at = self.crime_reported_at
        usable = reported_at is not None and not any(p == ("crime_reported_at",) for p, _ in wrong)
        reported = england_day(reported_at if usable and reported_at is not None else now)
        if born is not None:
            if born > reported:
                wrong.append(
                    (("subject", "date_of_birth"), "is after the date the crime was reported")
                )
            elif age_on(born, reported) > MAX_AGE_YEARS:
                wrong.append((("subject", "date_of_birth"), f"gives an age over {MAX_AGE_YEARS}"))
        if wrong:
            raise field_errors(*wrong)
        return self

    @model_validator(mode="after")
    def _subject_named(self) -> ReferralRequest:
        # Two children reached through one parent are two people: the hub must know whom
        # each referral is about, not only whom to call.
        contact = self.contact
        someone_else = contact is not None and contact.relationship is not ContactRelationship.SELF
        if someone_else and not self.subject.name:
            raise field_errors(
                (("subject", "name"), "is required when contact.relationship is not self")
            )
        return self

    @model_validator(mode="after")
    def _reachable(self) -> ReferralRequest:
        self_referral_with_channel = (
            self.source is Source.SELF_REFERRAL
            and self.contact is not None
            and self.contact.preferred_channel is not None
        )
        if self_referral_with_channel:
            return self
        if self.contact is None:
            raise field_errors(
                (("contact",), "contact is required unless a self-referral sets preferred_channel")
            )
        if not self.contact.has_means_of_contact():
            raise field_errors(
                (("contact", "phone"), "the contact needs a phone, email or address")
            )
        return self

    def personal_data(self) -> dict[str, Any]:
        """Everything that must stay in the vault."""
        return {
            "contact": self.contact.model_dump(mode="json") if self.contact else None,
            "date_of_birth": self.subject.date_of_birth.isoformat()
            if self.subject.date_of_birth
            else None,
            "gender": self.subject.gender,
            "subject_name": self.subject.name,
            "crime_reference": self.crime_reference,
            "consent_recorded_by": self.consent.recorded_by,
            "equality": self.equality_answers(),
        }

    def equality_answers(self) -> dict[str, str]:
        """Every characteristic's code; ``not_asked`` where the referral gave none."""
        return (self.equality or NOT_ASKED_AT_ALL).answers()


def age_on(date_of_birth: date, day: date) -> int:
    """Whole years completed on ``day`` (never negative)."""
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return max(0, day.year - date_of_birth.year - before_birthday)


def coded_facts(
    request: ReferralRequest, referral_id: uuid.UUID, received_at: datetime
) -> ReferralFacts:
    """The facts the policy reads. Age is measured on the day the crime was reported (or on
    receipt, when there is no report), so that a decision can be reproduced later."""
    reported = request.crime_reported_at or received_at
    subject = request.subject
    age = (
        age_on(subject.date_of_birth, england_day(reported))
        if subject.date_of_birth
        else subject.age
    )
    assert age is not None
    incident = request.incident
    assessment = request.assessment
    contact = request.contact
    return ReferralFacts(
        referral_id=referral_id,
        received_at=received_at,
        reported_at=request.crime_reported_at,
        source=request.source,
        local_authority=request.local_authority,
        subject=SubjectFacts(
            role=subject.role,
            age=age,
            vulnerabilities=subject.vulnerabilities,
            persistently_targeted=subject.persistently_targeted,
            intimidated=subject.intimidated,
            bereaved_relative=subject.bereaved_relative,
        ),
        incident=IncidentFacts(
            crime_types=incident.crime_types,
            occurred_at=incident.occurred_at,
            drug_possession=DrugPossession(**incident.drug_possession.model_dump())
            if incident.drug_possession
            else None,
            homicide=incident.homicide,
            fatal=incident.fatal,
        ),
        assessment=AssessmentFacts(
            needs=assessment.needs,
            dash=Dash(**assessment.dash.model_dump()) if assessment.dash else None,
            da_incidents_last_12_months=assessment.da_incidents_last_12_months,
            previous_marac_within_12_months=assessment.previous_marac_within_12_months,
            cce_indicators=assessment.cce_indicators,
            threat_to_life=assessment.threat_to_life,
            hospital_setting=assessment.hospital_setting,
            children_in_household=assessment.children_in_household,
        ),
        consent=request.consent.status,
        contact=ContactFacts(
            safe_to_contact=contact.safe_to_contact if contact else None,
            preferred_channel=contact.preferred_channel if contact else None,
        ),
    )
