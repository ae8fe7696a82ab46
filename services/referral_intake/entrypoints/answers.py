"""What intake's API answers, typed (contract: "Intake API"; ``schemas.answers`` says
how a model types an answer without changing it). Members a handler gives only
sometimes are optional here and absent from the answer when not given."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from schemas.answers import Answer, Moment


class Links(Answer):
    self_: str = Field(alias="self")
    contact: str | None = None


class LinkedReferral(Answer):
    referral_id: uuid.UUID
    relation: str
    role: str | None = None
    status: str | None = None
    linked_at: Moment | None = None


class Submitted(Answer):
    """A submission: new (202), or a second one of an open referral added to it (200,
    ``linked_to_existing``) with what it raised and, once decided, the decision."""

    referral_id: uuid.UUID
    status: str
    links: Links
    linked_referrals: list[LinkedReferral] | None = None
    repeat_victim: bool | None = None
    linked_to_existing: bool | None = None
    submission: int | None = None
    reassessed: bool | None = None
    raised: list[str] | None = None
    kept_from_record: list[str] | None = None
    consent_change: str | None = None
    decision_id: str | None = None
    decision: dict[str, Any] | None = None
    detail: str | None = None


class WorklistRoute(Answer):
    route_id: uuid.UUID
    service: str
    sub_service: str | None
    priority: str
    status: str
    breached: bool
    acknowledge_by: Moment
    contact_due_by: Moment
    code_deadline: Moment


class WorklistItem(Answer):
    referral_id: uuid.UUID
    status: str
    received_at: Moment
    local_authority: str | None
    repeat_victim: bool
    flags: list[str]
    breached: bool
    actions_outstanding: list[str]
    routes: list[WorklistRoute]


class Worklist(Answer):
    items: list[WorklistItem]
    next_cursor: str | None = Field(description="Ask again with it for the next page")


class StatusChange(Answer):
    """One status change, coded facts only (``event``, and the codes it carries)."""

    referral_id: uuid.UUID
    route_id: uuid.UUID | None
    event: str
    status: str | None
    at: Moment
    service: str | None = None
    reason: str | None = None
    rejection_reason: str | None = None
    clock: str | None = None
    trigger: str | None = None
    decision_status: str | None = None
    services: list[str] | None = None
    cancelled_services: list[str] | None = None
    held_services: list[str] | None = None
    flags: list[str] | None = None
    outcome: str | None = None


class StatusChanges(Answer):
    items: list[StatusChange]
    next_cursor: str = Field(description="Ask again with it for what came after")


class StatutoryReferral(Answer):
    flag: str
    status: str
    raised_at: Moment
    policy_version: str | None
    withdrawn_at: Moment | None
    made_at: Moment | None
    reference: str | None
    recorded_by: str | None
    recorded_at: Moment | None


class StatutoryReferralRecorded(StatutoryReferral):
    referral_id: uuid.UUID


class Route(Answer):
    route_id: uuid.UUID
    service: str
    sub_service: str | None
    priority: str
    rule_ids: list[str]
    reason: str | None
    consent_basis: str | None
    status: str
    breached: bool
    requested_at: Moment
    acknowledge_by: Moment
    contact_due_by: Moment
    code_deadline: Moment
    timeline: list[dict[str, Any]]


class Decision(Answer):
    decision_id: str | None
    policy_version: str
    decided_at: Moment
    status: str
    reason: str | None
    da_risk: str | None
    enhanced_rights: bool
    flags: list[str]
    routes: list[Route]
    held_routes: list[dict[str, Any]]


class SubmissionView(Answer):
    submission: int
    submitted_at: Moment
    submitted_by: str | None
    raised: list[str]
    kept_from_record: list[str]
    consent_change: str | None
    decision_id: str | None
    facts: dict[str, Any] | None


class ReferralView(Answer):
    """A referral as staff read it: no personal data but the notes staff wrote."""

    referral_id: uuid.UUID
    status: str
    received_at: Moment
    consent: str | None
    repeat_victim: bool
    enhanced_rights: bool | None
    decision: Decision | None
    statutory_referrals: list[StatutoryReferral]
    timeline: list[dict[str, Any]] = Field(description="Each step, oldest first")
    notes: list[dict[str, Any]]
    submissions: list[SubmissionView]
    linked_referrals: list[LinkedReferral]


class ConsentRecorded(Answer):
    referral_id: uuid.UUID
    consent: str


class Overridden(Answer):
    referral_id: uuid.UUID
    override: str
    service: str


class Erased(Answer):
    referral_id: uuid.UUID
    erased_at: Moment


class Disclosure(Answer):
    at: Moment
    accessor: str
    accessor_name: str | None
    service: str | None
    fields: list[str]
    purpose: str | None


class Disclosures(Answer):
    referral_id: uuid.UUID
    disclosures: list[Disclosure]


class ContactDetails(Answer):
    """The contact details a reader may see (personal data: every read is logged), and
    which version of them this is."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    safe_to_contact: bool | None = None
    safe_contact_notes: str | None = None
    preferred_channel: str | None = None
    relationship: str | None = None
    subject_name: str | None = None
    contact_version: int | None = None


class StaffContactDetails(ContactDetails):
    date_of_birth: str | None = None
    crime_reference: str | None = None
    submissions: list[dict[str, Any]] | None = Field(
        default=None, description="What each submission gave, as given"
    )


class ContactChanged(Answer):
    referral_id: uuid.UUID
    changed: list[str]
    contact_version: int
    providers_told: list[str]
    links: Links


class SubjectAccessReferral(Answer):
    referral_id: uuid.UUID
    matched_by: str
    status: str
    received_at: Moment
    personal_data: dict[str, Any] | None
    erased: dict[str, Any] | None
    coded_facts: dict[str, Any] | None
    consent: str | None
    decision: dict[str, Any] | None
    statutory_referrals: list[dict[str, Any]]
    submissions: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    disclosures: list[dict[str, Any]]


class SubjectAccessExport(Answer):
    referral_id: uuid.UUID
    exported_at: Moment
    exported_by: str
    referrals: list[SubjectAccessReferral]
    about: str


class NoteKept(Answer):
    note_id: int


class Period(Answer):
    from_: str = Field(alias="from", description="First day, YYYY-MM-DD")
    to: str = Field(description="Last day, YYYY-MM-DD")
    period: str | None = Field(description="The financial year or quarter, when it is one")


class PerformanceReport(Period):
    """The commissioner's report: figures per service and sub-service, totals, equality
    monitoring; in the published edition, small counts suppressed."""

    previous_period: Period
    local_authority: str | None
    as_of: Moment
    caseload_at: Moment
    services: Any
    totals: dict[str, Any]
    equality: Any
