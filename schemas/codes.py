"""Code lists from the contract. Values are the lower-case snake case the API uses."""

from __future__ import annotations

from enum import StrEnum


class Service(StrEnum):
    VAL = "VAL"
    IDVA = "IDVA"
    ISVA = "ISVA"
    CLIMB = "CLIMB"
    DIVERT = "DIVERT"


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


class ContactChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    POST = "post"
    SMS = "sms"
    IN_PERSON = "in_person"


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
