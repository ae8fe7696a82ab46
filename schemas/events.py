"""Event payloads (the ``data`` of each CloudEvent). No personal data: see architecture
invariant 1. Referral ids are opaque UUIDs; ages are whole years; everything else is a code."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from schemas import topics
from schemas.codes import (
    CceIndicator,
    ConsentBasis,
    ConsentStatus,
    ContactChannel,
    ContactField,
    ContactResult,
    CrimeType,
    LocalAuthority,
    Need,
    NoServiceReason,
    OutcomeStatus,
    Priority,
    ReferralStatus,
    RejectionReason,
    Role,
    RouteStatus,
    Service,
    Source,
)
from schemas.envelope import EventData
from schemas.requests import Code, field_errors

"""A snake_case code: never free text, so never a place for personal data to hide."""


class Event(EventData):
    """The data of one kind of event, which knows its CloudEvents ``type`` and the topic it is
    published on: ``plumbing.events.outgoing`` reads both from it, so that a type cannot be
    published on another type's topic."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    """The topic, for events whose topic does not depend on their content."""

    @property
    def topic(self) -> str:
        """The topic this event is published on."""
        return self.TOPIC


MAX_CHILDREN_IN_HOUSEHOLD = 30
MAX_VULNERABILITIES = 20
"""The most vulnerability codes one person's referral carries (a bound on a list of codes
the hub does not enumerate; the enumerated lists are bounded by their number of codes)."""
Actor = Annotated[
    str,
    Field(
        pattern="^(" + "|".join(Service) + "):caseworker:"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ),
]
"""A person at a provider, coded: ``IDVA:caseworker:<account id>`` (their provider portal
account). Never a name: intake learns the name from the adapter over HTTP, not the bus."""

# ---- event types --------------------------------------------------------------------
REFERRAL_RECEIVED = "referral.received.v1"
REFERRAL_REASSESS = "referral.reassess.v1"
REFERRAL_ROUTED = "referral.routed.v1"
WORK_ITEM = "referral.work_item.v1"
WORK_ITEM_CANCELLED = "referral.work_item_cancelled.v1"
ROUTE_STATUS = "referral.route_status.v1"
SLA_BREACHED = "referral.sla_breached.v1"
ESCALATED = "referral.escalated.v1"
CONTACT_CHANGED = "referral.contact_changed.v1"
PERSONAL_DATA_ERASED = "referral.personal_data_erased.v1"


# ---- referral.received.v1 -----------------------------------------------------------
class SubjectFacts(EventData):
    role: Role
    age: int = Field(ge=0, le=130)
    vulnerabilities: Annotated[list[Code], Field(max_length=MAX_VULNERABILITIES)] = []
    persistently_targeted: bool = False
    intimidated: bool = False
    bereaved_relative: bool = False
    repeat_victim: bool = False
    """Another referral of the same person in the last 12 months (matched in intake's vault)."""


class DrugPossession(EventData):
    personal_use: bool
    intent_to_supply_suspected: bool
    previously_disengaged_from_diversion: bool


class IncidentFacts(EventData):
    crime_types: Annotated[list[CrimeType], Field(max_length=len(CrimeType))]
    occurred_at: AwareDatetime | None = None
    drug_possession: DrugPossession | None = None
    homicide: bool = False
    """Serious violence in which someone was killed (policy version 2: the Homicide Service)."""
    fatal: bool = False
    """A road collision in which someone died (policy version 2: the road victims' advocate)."""


DASH_ASSESSED: dict[str, Any] = {
    "anyOf": [
        {"required": ["yes_count"], "properties": {"yes_count": {"type": "integer"}}},
        {
            "required": ["professional_judgement_high"],
            "properties": {"professional_judgement_high": {"const": True}},
        },
    ]
}
"""``Dash``'s rule (a count, or professional judgement that risk is high) as JSON Schema."""


class Dash(EventData):
    """The SafeLives DASH risk checklist: the number of yes answers (0 to 27), and whether
    the assessor's professional judgement is that risk is high. Professional judgement can
    stand without a count (``yes_count`` null); a count of nothing cannot."""

    model_config = ConfigDict(json_schema_extra=DASH_ASSESSED)

    yes_count: int | None = Field(default=None, ge=0, le=27)
    professional_judgement_high: bool = False

    @model_validator(mode="after")
    def _something_assessed(self) -> Dash:
        if self.yes_count is None and not self.professional_judgement_high:
            raise field_errors(
                (("yes_count",), "is required unless professional_judgement_high is true")
            )
        return self


class AssessmentFacts(EventData):
    needs: Annotated[list[Need], Field(max_length=len(Need))]
    dash: Dash | None = None
    da_incidents_last_12_months: int = Field(default=0, ge=0)
    previous_marac_within_12_months: bool = False
    cce_indicators: Annotated[list[CceIndicator], Field(max_length=len(CceIndicator))] = []
    threat_to_life: bool = False
    hospital_setting: bool = False
    children_in_household: int = Field(default=0, ge=0, le=MAX_CHILDREN_IN_HOUSEHOLD)
    """DASH question 10: children living in the household (policy version 2)."""


class ContactFacts(EventData):
    """Whether and how contact may happen; never the contact details themselves."""

    safe_to_contact: bool | None = None
    preferred_channel: ContactChannel | None = None


class ReferralFacts(EventData):
    """What the router needs to decide: the referral's coded facts."""

    referral_id: uuid.UUID
    received_at: AwareDatetime
    reported_at: AwareDatetime | None
    """``crime_reported_at``; every time-dependent fact is measured against it."""
    source: Source
    local_authority: LocalAuthority
    subject: SubjectFacts
    incident: IncidentFacts
    assessment: AssessmentFacts
    consent: ConsentStatus
    contact: ContactFacts = ContactFacts()


class ReferralReceived(Event):
    TYPE = REFERRAL_RECEIVED
    TOPIC = topics.REFERRAL_RECEIVED

    facts: ReferralFacts


# ---- referral.routed.v1 -------------------------------------------------------------
class Route(EventData):
    route_id: uuid.UUID
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: list[str]
    reason: str
    consent_basis: ConsentBasis
    requested_at: AwareDatetime
    acknowledge_by: AwareDatetime
    contact_due_by: AwareDatetime
    code_deadline: AwareDatetime
    second_acknowledge_by: AwareDatetime | None = None
    """After an escalation, when the route is re-routed if still unacknowledged."""


class CancelledRoute(EventData):
    route_id: uuid.UUID
    service: Service
    reason: Code
    """``consent_withdrawn``, ``consent_refused``, ``superseded``, ``override``, ``sla_reroute``."""


class HeldRoute(EventData):
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: list[str]
    reason: str


class ReferralRouted(Event):
    TYPE = REFERRAL_ROUTED
    TOPIC = topics.REFERRAL_ROUTED

    referral_id: uuid.UUID
    decision_id: uuid.UUID
    decided_at: AwareDatetime
    policy_version: str
    status: ReferralStatus
    reason: NoServiceReason | None = None
    enhanced_rights: bool
    da_risk: str | None = None
    flags: list[str] = []
    routes: list[Route] = []
    """Routes dispatched by this decision (new work items)."""
    held_routes: list[HeldRoute] = []
    trigger: Code = "received"
    """What led to the decision: ``received``, or a re-assessment trigger."""
    rule_ids: list[str] = []
    kept_route_ids: list[uuid.UUID] = []
    """Open routes this decision leaves as they are."""
    cancelled_routes: list[CancelledRoute] = []
    """Open routes this decision ends; their providers are told on their queues."""
    request_id: uuid.UUID | None = None
    """The re-assessment request this decision answers, if any."""
    trigger_event_id: uuid.UUID | None = None
    """The event this decision answers (``referral.received.v1`` or a re-assessment): intake
    re-drives it when the routes it produced do not reach their providers."""


# ---- referral.reassess.v1 -----------------------------------------------------------
class OpenRoute(EventData):
    route_id: uuid.UUID
    service: Service
    sub_service: str
    priority: Priority
    status: RouteStatus
    consent_basis: ConsentBasis | None = None
    code_deadline: AwareDatetime | None = None


class RouteChange(EventData):
    """The route a re-assessment is about: the one rejected, breached, added or removed."""

    route_id: uuid.UUID | None = None
    service: Service
    sub_service: str | None = None
    priority: Priority | None = None
    rejection_reason: RejectionReason | None = None
    consent_basis: ConsentBasis | None = None
    code_deadline: AwareDatetime | None = None


class ReassessmentRequested(Event):
    """Something changed after routing; the router decides again, under the policy."""

    TYPE = REFERRAL_REASSESS
    TOPIC = topics.REFERRAL_REASSESS

    trigger: Code
    """``consent_given``, ``consent_refused``, ``consent_withdrawn``, ``route_rejected``,
    ``sla_reroute``, ``override_add``, ``override_remove`` or ``resubmitted`` (a new
    submission for the open referral: ``facts`` are the combined picture)."""
    request_id: uuid.UUID | None = None
    """Echoed on the decision, so that intake can tie it to who asked."""
    facts: ReferralFacts
    open_routes: list[OpenRoute] = []
    ended_routes: list[OpenRoute] = []
    change: RouteChange | None = None
    decision_id: uuid.UUID | None = None
    """The id the decision is to have, when intake gave one in advance (a resubmission's
    answer names the decision that follows it)."""


# ---- queue.<service>.v1 ------------------------------------------------------------
class WorkItem(Event):
    """One route, as its provider's adapter receives it: no contact details, only the
    coded facts that service needs."""

    TYPE = WORK_ITEM

    route_id: uuid.UUID
    referral_id: uuid.UUID
    decision_id: uuid.UUID
    policy_version: str
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: list[str]
    reason: str
    consent_basis: ConsentBasis
    requested_at: AwareDatetime
    acknowledge_by: AwareDatetime
    contact_due_by: AwareDatetime
    code_deadline: AwareDatetime
    flags: list[str] = []
    facts: dict[str, object] = {}

    @property
    def topic(self) -> str:
        """Its provider service's queue."""
        return topics.queue_for(self.service)


class WorkItemCancelled(Event):
    TYPE = WORK_ITEM_CANCELLED

    route_id: uuid.UUID
    referral_id: uuid.UUID
    service: Service
    reason: Code

    @property
    def topic(self) -> str:
        """Its provider service's queue."""
        return topics.queue_for(self.service)


# ---- referral.sla.v1 ----------------------------------------------------------------
class SlaBreached(Event):
    TYPE = SLA_BREACHED
    TOPIC = topics.REFERRAL_SLA

    route_id: uuid.UUID
    referral_id: uuid.UUID
    service: Service
    clock: Code
    """``acknowledge``, ``second_acknowledge``, ``contact`` or ``code`` (Victims' Code)."""
    due_at: AwareDatetime
    detected_at: AwareDatetime
    route_status: RouteStatus


# ---- referral.contact.v1 ------------------------------------------------------------
class ContactChanged(Event):
    """Staff changed a person's contact details (``PATCH /v1/referrals/{id}/contact``): which
    fields, never their values. Every adapter with an open route for the referral tells its
    provider, who must read the details again before contacting the person."""

    TYPE = CONTACT_CHANGED
    TOPIC = topics.REFERRAL_CONTACT

    change_id: uuid.UUID
    referral_id: uuid.UUID
    changed_at: AwareDatetime
    version: int = Field(ge=2)
    """The contact details' version after the change (the submission's are version 1); the
    vault's answers carry it too, so that a read of the new details is known as one."""
    fields: list[ContactField] = Field(min_length=1)
    safe_to_contact: bool | None = None
    """The coded fact after the change, as ``contact.safe_to_contact`` on a work item."""
    preferred_channel: ContactChannel | None = None


class PersonalDataErased(Event):
    """Intake erased the referral's personal data (on request or at the end of retention):
    every provider's work items for it leave its queue, pushes not yet delivered are
    withdrawn, and any later step on them answers 410. On ``referral.sla.v1``, the topic on
    which intake tells the adapters what the hub did to their routes."""

    TYPE = PERSONAL_DATA_ERASED
    TOPIC = topics.REFERRAL_SLA

    referral_id: uuid.UUID
    erased_at: AwareDatetime
    reason: Code
    """``data_subject_request``, ``recorded_in_error``, ``legal_obligation`` or ``retention``."""


# ---- referral.status.v1 ------------------------------------------------------------
class ContactAttempt(EventData):
    at: AwareDatetime
    channel: ContactChannel
    result: ContactResult


class Outcome(EventData):
    status: OutcomeStatus
    reason: Code | None = None
    measures: dict[Code, bool | Code | None] = {}


class RouteStatusChanged(Event):
    """A step in one route's life, reported by the provider's adapter."""

    TYPE = ROUTE_STATUS
    TOPIC = topics.REFERRAL_STATUS

    route_id: uuid.UUID
    referral_id: uuid.UUID
    service: Service
    step: Code
    """What happened: ``queued``, ``viewed``, ``acknowledged``, ``contact_attempt``, ``outcome``."""
    status: RouteStatus
    previous_status: RouteStatus | None = None
    at: AwareDatetime
    rejection_reason: RejectionReason | None = None
    contact_attempt: ContactAttempt | None = None
    outcome: Outcome | None = None
    reason: Code | None = None
    """Why, for steps the hub itself caused: a cancellation's or an escalation's reason."""
    actor: Actor | None = None
    """The person who took the step in the provider portal; None for the provider's own
    system (its API key) and for steps the hub caused."""


class Escalated(SlaBreached):
    """A breach after which the route is escalated: the provider is reminded, and the route
    is re-routed if still unacknowledged by ``second_acknowledge_by``. Same data."""

    TYPE = ESCALATED
