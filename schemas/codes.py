"""Code lists from the contract. Values are the lower-case snake case the API uses."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Service(StrEnum):
    """The provider services the commissioner funds: one queue, one adapter process and one
    portal each. Every list of services (deployment, demo, bench, reports) is made from
    this enum, and the tables of per-service figures are checked against it
    (tests/unit/test_service_lists.py)."""

    VAL = "VAL"
    IDVA = "IDVA"
    ISVA = "ISVA"
    CLIMB = "CLIMB"
    DIVERT = "DIVERT"


class ServiceName(NamedTuple):
    provider: str
    """As its staff name it, at the head of its portal's pages."""
    report: str
    """As the commissioner's report names it: the need it serves, then its code."""


SERVICE_NAMES = {
    Service.VAL: ServiceName("Victim Advice Line", "Victim Advice Line (VAL)"),
    Service.IDVA: ServiceName(
        "Independent Domestic Violence Advisers", "Domestic abuse advisers (IDVA)"
    ),
    Service.ISVA: ServiceName(
        "Independent Sexual Violence Advisers", "Sexual violence advisers (ISVA)"
    ),
    Service.CLIMB: ServiceName("CLIMB (The Children's Society)", "Child exploitation (CLIMB)"),
    Service.DIVERT: ServiceName("DIVERT (Cranstoun)", "Drug diversion (DIVERT)"),
}


class Source(StrEnum):
    POLICE_OFFICER = "police_officer"
    VAL = "val"
    SELF_REFERRAL = "self_referral"
    HOSPITAL = "hospital"
    SOCIAL_CARE = "social_care"
    PARTNER_AGENCY = "partner_agency"
    OTHER_FORCE = "other_force"


class LocalAuthority(StrEnum):
    HEREFORDSHIRE = "herefordshire"
    SHROPSHIRE = "shropshire"
    TELFORD_AND_WREKIN = "telford_and_wrekin"
    WORCESTERSHIRE = "worcestershire"
    OUTSIDE_AREA = "outside_area"


class Role(StrEnum):
    VICTIM = "victim"
    WITNESS = "witness"
    SUSPECT = "suspect"
    AT_RISK_CHILD = "at_risk_child"


class ContactRelationship(StrEnum):
    """Who the contact is to the person referred (``contact.relationship``)."""

    SELF = "self"
    PARENT = "parent"
    GUARDIAN = "guardian"
    CARER = "carer"
    PROFESSIONAL = "professional"
    OTHER = "other"


class CrimeType(StrEnum):
    DOMESTIC_ABUSE = "domestic_abuse"
    SEXUAL_OFFENCE = "sexual_offence"
    CHILD_CRIMINAL_EXPLOITATION = "child_criminal_exploitation"
    CHILD_SEXUAL_EXPLOITATION = "child_sexual_exploitation"
    DRUG_POSSESSION = "drug_possession"
    HATE_CRIME = "hate_crime"
    SERIOUS_VIOLENCE = "serious_violence"
    ROAD_COLLISION = "road_collision"
    MODERN_SLAVERY = "modern_slavery"
    OTHER = "other"
    # From policy version 2 (routing-policy.md, "Version 2"): decided by version 1 as any
    # other crime it does not name.
    STALKING = "stalking"
    HONOUR_BASED_ABUSE = "honour_based_abuse"
    FORCED_MARRIAGE = "forced_marriage"


class Need(StrEnum):
    EMOTIONAL_SUPPORT = "emotional_support"
    PRACTICAL_SUPPORT = "practical_support"
    SAFETY_PLANNING = "safety_planning"
    CRIMINAL_JUSTICE_ADVOCACY = "criminal_justice_advocacy"
    HEALTH = "health"
    HOUSING = "housing"
    FINANCIAL = "financial"
    NONE = "none"


class CceIndicator(StrEnum):
    MISSING_EPISODES = "missing_episodes"
    MISSING_EDUCATION = "missing_education"
    COUNTY_LINES = "county_lines"
    UNEXPLAINED_MONEY_OR_ITEMS = "unexplained_money_or_items"
    OLDER_ASSOCIATES = "older_associates"
    RISK_OF_ENTERING_CJS = "risk_of_entering_cjs"


class ConsentStatus(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"
    NOT_ASKED = "not_asked"


class Flag(StrEnum):
    """What a decision asks people to know or do, beside its routes (routing-policy.md)."""

    EMERGENCY_ESCALATION = "emergency_escalation"
    MARAC_REFERRAL_REQUIRED = "marac_referral_required"
    NRM_REFERRAL_REQUIRED = "nrm_referral_required"
    NRM_CONSIDERATION = "nrm_consideration"
    SARC_URGENT = "sarc_urgent"
    CHILDREN_SERVICES_REFERRAL = "children_services_referral"
    SUPERVISOR_REVIEW = "supervisor_review"
    # Version 2.
    DUTY_TO_NOTIFY = "duty_to_notify"
    ADULT_SAFEGUARDING_REFERRAL = "adult_safeguarding_referral"
    DO_NOT_CONTACT_FAMILY = "do_not_contact_family"
    RISK_ASSESSMENT_MISSING = "risk_assessment_missing"


STATUTORY_FLAGS = frozenset(
    {
        Flag.CHILDREN_SERVICES_REFERRAL,
        Flag.DUTY_TO_NOTIFY,
        Flag.ADULT_SAFEGUARDING_REFERRAL,
        Flag.NRM_REFERRAL_REQUIRED,
        Flag.MARAC_REFERRAL_REQUIRED,
        Flag.RISK_ASSESSMENT_MISSING,
    }
)
"""Flags that ask staff to make a referral to a statutory body (children's social care, the
Home Office, the local authority's adult safeguarding team, the NRM, the MARAC) or to obtain
the missing risk assessment. Each stays on the supervisor's worklist until a supervisor
records that it was done (who, when, the other agency's reference)."""


class ContactChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    POST = "post"
    SMS = "sms"
    IN_PERSON = "in_person"


class ContactField(StrEnum):
    """The names of a referral's contact fields (``contact.*``): what a change of contact
    details names on the bus, in webhooks and in timelines, never with the values."""

    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    SAFE_TO_CONTACT = "safe_to_contact"
    SAFE_CONTACT_NOTES = "safe_contact_notes"
    PREFERRED_CHANNEL = "preferred_channel"
    RELATIONSHIP = "relationship"


CHANNELS_OF_FIELD: dict[ContactField, frozenset[ContactChannel]] = {
    ContactField.PHONE: frozenset({ContactChannel.PHONE, ContactChannel.SMS}),
    ContactField.EMAIL: frozenset({ContactChannel.EMAIL}),
    ContactField.ADDRESS: frozenset({ContactChannel.POST, ContactChannel.IN_PERSON}),
    # Whether and how it is safe to make contact, and how the person wants it, govern every
    # channel: an attempt made without the new instructions may be the dangerous one.
    ContactField.SAFE_TO_CONTACT: frozenset(ContactChannel),
    ContactField.SAFE_CONTACT_NOTES: frozenset(ContactChannel),
    ContactField.PREFERRED_CHANNEL: frozenset(ContactChannel),
}
"""The channels a changed field makes stale until the provider reads the new details (a new
name or relationship changes whom to ask for, not how to reach them)."""


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    STANDARD = "standard"


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    AWAITING_CONSENT = "awaiting_consent"
    NO_SERVICE = "no_service"
    CLOSED = "closed"


class Trigger(StrEnum):
    """What led the router to decide: the referral arriving, or what asked for a
    re-assessment (``trigger`` on ``referral.reassess.v1`` and ``referral.routed.v1``)."""

    RECEIVED = "received"
    CONSENT_GIVEN = "consent_given"
    CONSENT_REFUSED = "consent_refused"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    ROUTE_REJECTED = "route_rejected"
    SLA_REROUTE = "sla_reroute"
    """The second acknowledgement clock ran out on an escalated route."""
    OVERRIDE_ADD = "override_add"
    OVERRIDE_REMOVE = "override_remove"
    RESUBMITTED = "resubmitted"
    """A new submission for the open referral: the router decides on the combined facts."""


class NoServiceReason(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    NO_IDENTIFIED_NEED = "no_identified_need"
    CONSENT_REFUSED = "consent_refused"


class ConsentBasis(StrEnum):
    EXPLICIT_CONSENT = "explicit_consent"
    OPT_OUT_NOT_EXERCISED = "opt_out_not_exercised"
    SAFEGUARDING_OVERRIDE = "safeguarding_override"
    DIVERSION_OFFER = "diversion_offer"
    """DIVERT: offered by the officer to the person found in possession; not a victim service."""
    CONSENT_REQUEST = "consent_request"
    """VAL's ``consent_contact`` route: VAL contacts the victim to ask for consent."""
    SUPERVISOR_DECISION = "supervisor_decision"
    """A route a supervisor added without the victim's consent on record."""


class RouteStatus(StrEnum):
    """FHIR ``Task.status``-aligned lifecycle of one route (contract, "Route lifecycle")."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ESCALATED = "escalated"


TERMINAL_ROUTE_STATUSES = frozenset(
    {
        RouteStatus.COMPLETED,
        RouteStatus.CLOSED,
        RouteStatus.REJECTED,
        RouteStatus.CANCELLED,
        RouteStatus.FAILED,
    }
)


class RejectionReason(StrEnum):
    CAPACITY = "capacity"
    INELIGIBLE = "ineligible"
    OUT_OF_AREA = "out_of_area"
    DUPLICATE = "duplicate"
    NO_SAFE_CONTACT = "no_safe_contact"
    MISSING_INFORMATION = "missing_information"
    OTHER = "other"


class ContactResult(StrEnum):
    CONTACTED = "contacted"
    NO_ANSWER = "no_answer"
    UNSAFE = "unsafe"
    WRONG_NUMBER = "wrong_number"


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
