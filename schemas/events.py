"""Event payloads (the ``data`` of each CloudEvent). No personal data: see architecture
invariant 1. Referral ids are opaque UUIDs; ages are whole years; everything else is a code."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas.codes import (
    CceIndicator,
    ConsentBasis,
    ConsentStatus,
    ContactChannel,
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

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""A snake_case code: never free text, so never a place for personal data to hide."""

# ---- event types --------------------------------------------------------------------
REFERRAL_RECEIVED = "referral.received.v1"
REFERRAL_REASSESS = "referral.reassess.v1"
REFERRAL_ROUTED = "referral.routed.v1"
WORK_ITEM = "referral.work_item.v1"
ROUTE_STATUS = "referral.route_status.v1"


# ---- referral.received.v1 -----------------------------------------------------------
class SubjectFacts(EventData):
    role: Role
    age: int = Field(ge=0, le=130)
    vulnerabilities: list[Code] = []
    persistently_targeted: bool = False
    intimidated: bool = False
    bereaved_relative: bool = False


class DrugPossession(EventData):
    personal_use: bool
    intent_to_supply_suspected: bool
    previously_disengaged_from_diversion: bool


class IncidentFacts(EventData):
    crime_types: list[CrimeType]
    occurred_at: AwareDatetime | None = None
    drug_possession: DrugPossession | None = None


class Dash(EventData):
    yes_count: int = Field(ge=0, le=27)
    professional_judgement_high: bool = False


class AssessmentFacts(EventData):
    needs: list[Need]
    dash: Dash | None = None
    da_incidents_last_12_months: int = Field(default=0, ge=0)
    previous_marac_within_12_months: bool = False
    cce_indicators: list[CceIndicator] = []
    threat_to_life: bool = False
    hospital_setting: bool = False


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


class ReferralReceived(EventData):
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


class HeldRoute(EventData):
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: list[str]
    reason: str


class ReferralRouted(EventData):
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
    held_routes: list[HeldRoute] = []


# ---- queue.<service>.v1 ------------------------------------------------------------
class WorkItem(EventData):
    """One route, as its provider's adapter receives it: no contact details, only the
    coded facts that service needs."""

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


# ---- referral.status.v1 ------------------------------------------------------------
class ContactAttempt(EventData):
    at: AwareDatetime
    channel: ContactChannel
    result: ContactResult


class Outcome(EventData):
    status: OutcomeStatus
    reason: Code | None = None
    measures: dict[Code, bool | Code | None] = {}


class RouteStatusChanged(EventData):
    """A step in one route's life, reported by the provider's adapter."""

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
