"""Intake's HTTP API (contract: "Intake API"). Thin: map each request to a handler call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime, Field, WithJsonSchema, field_validator

from schemas import events, policy_api
from schemas.codes import (
    STATUTORY_FLAGS,
    Flag,
    LocalAuthority,
    Priority,
    ReferralStatus,
    Service,
)
from schemas.refusals import NotFound
from schemas.requests import RequestBody
from services.plumbing import telemetry
from services.plumbing.answers import typed_router
from services.plumbing.auth import Principal, allow
from services.plumbing.http import problem
from services.plumbing.metrics import REFERRALS_RECEIVED
from services.plumbing.openapi import problems
from services.referral_intake.adapters import subject_access_document
from services.referral_intake.adapters.router_client import (
    RouterAnswer,
    RouterClient,
    RouterUnavailable,
)
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import statutory
from services.referral_intake.domain.contact_change import InvalidChange
from services.referral_intake.domain.referral import ContactChange, ReferralRequest, coded_facts
from services.referral_intake.entrypoints import answers
from services.referral_intake.entrypoints.authorization import ACCESS
from services.referral_intake.handlers import (
    consent,
    contact_change,
    disclosure,
    erasure,
    notes,
    overrides,
    status_feed,
    subject_access,
    submission,
    views,
)
from services.referral_intake.handlers import statutory as statutory_handler

router = typed_router()


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


# What a route works with, one alias each (FastAPI's full-stack template).
Pool = Annotated[asyncpg.Pool, Depends(_pool)]
SealedVault = Annotated[Vault, Depends(_vault)]


# The caller, when the authorisation table lets their role do the operation.
MaySubmit = Annotated[Principal, allow(ACCESS, "POST /v1/referrals")]
MayListReferrals = Annotated[Principal, allow(ACCESS, "GET /v1/referrals")]
MayFollowReferrals = Annotated[Principal, allow(ACCESS, "GET /v1/status-changes")]
MayReadReferral = Annotated[Principal, allow(ACCESS, "GET /v1/referrals/{referral_id}")]
MayReadContact = Annotated[Principal, allow(ACCESS, "GET /v1/referrals/{referral_id}/contact")]
MayChangeContact = Annotated[Principal, allow(ACCESS, "PATCH /v1/referrals/{referral_id}/contact")]
MayExportSubjectAccess = Annotated[Principal, allow(ACCESS, "GET /v1/subject-access")]
MayRecordConsent = Annotated[Principal, allow(ACCESS, "POST /v1/referrals/{referral_id}/consent")]
MayOverride = Annotated[Principal, allow(ACCESS, "POST /v1/referrals/{referral_id}/override")]
MayRecordStatutoryReferral = Annotated[
    Principal, allow(ACCESS, "POST /v1/referrals/{referral_id}/statutory-referrals")
]
MayReadDisclosures = Annotated[
    Principal, allow(ACCESS, "GET /v1/referrals/{referral_id}/disclosures")
]
MayErase = Annotated[Principal, allow(ACCESS, "POST /v1/referrals/{referral_id}/erasure")]
MayExplain = Annotated[Principal, allow(ACCESS, "POST /v1/assessments/explain")]
MaySimulate = Annotated[Principal, allow(ACCESS, "POST /v1/simulations")]
AdapterOfService = Annotated[
    Principal, allow(ACCESS, "GET /internal/v1/referrals/{referral_id}/contact")
]
AdapterForPerson = Annotated[
    Principal, allow(ACCESS, "POST /internal/v1/referrals/{referral_id}/contact")
]
AdapterNamingPerson = Annotated[Principal, allow(ACCESS, "PUT /internal/v1/people/{actor}")]
AdapterOfServiceNotes = Annotated[
    Principal, allow(ACCESS, "POST /internal/v1/referrals/{referral_id}/notes")
]


NOT_FOUND_DETAIL = "No referral with that id is available to you."


class ConsentIn(RequestBody):
    status: Literal["given", "refused", "withdrawn"]
    recorded_at: AwareDatetime | None = None
    recorded_by: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class PersonIn(RequestBody):
    display_name: Annotated[str, Field(min_length=1, max_length=100)]


class ContactReadIn(RequestBody):
    purpose: Literal["provider_contact"] = "provider_contact"
    actor: events.Actor
    actor_name: Annotated[str, Field(min_length=1, max_length=100)]


class OverrideIn(RequestBody):
    action: Literal["add", "remove"]
    service: Service
    sub_service: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None = None
    priority: Priority | None = None
    justification: Annotated[str, Field(min_length=10, max_length=2000)]


class StatutoryReferralIn(RequestBody):
    flag: Annotated[
        Flag, WithJsonSchema({"type": "string", "enum": sorted(f.value for f in STATUTORY_FLAGS)})
    ]
    made_at: AwareDatetime = Field(description="When it was made: not in the future")
    reference: Annotated[
        str, Field(min_length=1, max_length=40, json_schema_extra=statutory.CASE_REFERENCE_SCHEMA)
    ]

    @field_validator("flag")
    @classmethod
    def _statutory(cls, value: Flag) -> Flag:
        if value not in STATUTORY_FLAGS:
            raise ValueError(
                "must be one of the statutory flags: " + ", ".join(sorted(STATUTORY_FLAGS))
            )
        return value

    @field_validator("reference")
    @classmethod
    def _case_reference(cls, value: str) -> str:
        problem = statutory.reference_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("made_at")
    @classmethod
    def _already_made(cls, value: datetime) -> datetime:
        problem = statutory.made_at_problem(value, datetime.now(UTC))
        if problem:
            raise ValueError(problem)
        return value


@router.post(
    "/v1/referrals",
    status_code=202,
    response_model=answers.Submitted,
    responses={
        200: {
            "model": answers.Submitted,
            "description": "A second submission of the same person, role and crime while the "
            "referral is open: added to it as a new version (linked_to_existing: true)",
        },
        **problems(409),
    },
)
async def submit_referral(
    body: ReferralRequest,
    request: Request,
    principal: MaySubmit,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    submitted = await submission.submit_referral(
        request.app.state.pool,
        body,
        submitted_by=principal.subject,
        idempotency_key=idempotency_key,
        identity_key=request.app.state.identity_key,
        vault=request.app.state.vault,
    )
    telemetry.tag_referral(submitted.referral_id)
    REFERRALS_RECEIVED.labels(
        body.source.value,
        "replayed" if submitted.replayed else "linked" if submitted.linked else "new",
    ).inc()
    referral_id = str(submitted.referral_id)
    answer: dict[str, Any] = {
        "referral_id": referral_id,
        "status": submitted.status,
        "links": {"self": f"/v1/referrals/{referral_id}"},
    }
    if submitted.cross_linked:
        answer["linked_referrals"] = [
            {"referral_id": str(other), "relation": relation}
            for other, relation in submitted.cross_linked
        ]
    if submitted.linked:
        answer.update(await _resubmission_answer(request, submitted))
        return JSONResponse(answer, status_code=200)
    if submitted.repeat_victim:
        answer["repeat_victim"] = True
    return JSONResponse(
        answer, status_code=202, headers={"Location": f"/v1/referrals/{referral_id}"}
    )


async def _resubmission_answer(request: Request, submitted: submission.Submitted) -> dict[str, Any]:
    """What happened to a second submission of an open referral: it was added to it as a
    new version; whether the referral was assessed again and, once the router has decided
    (waited for a few seconds), what the decision was."""
    answer: dict[str, Any] = {
        "linked_to_existing": True,
        "submission": submitted.version,
        "reassessed": submitted.reassessed,
        "raised": list(submitted.raised),
        "kept_from_record": list(submitted.kept_from_record),
    }
    if submitted.consent_change:
        answer["consent_change"] = submitted.consent_change
    if submitted.decision_id is None:
        answer["detail"] = (
            "This person already has an open referral for this crime. This submission was "
            f"added to it (submission {submitted.version}) but raises nothing: the referral "
            "keeps its assessment and its routes"
            + (
                f" (the record stands higher on {', '.join(submitted.kept_from_record)})."
                if submitted.kept_from_record
                else "."
            )
        )
        return answer
    answer["decision_id"] = str(submitted.decision_id)
    wait = 0.0 if submitted.replayed else request.app.state.resubmission_decision_wait
    stored = await submission.decision_after(
        request.app.state.pool, submitted.referral_id, submitted.decision_id, wait_seconds=wait
    )
    if stored is None:
        answer["decision"] = None
        answer["detail"] = (
            "This person already has an open referral for this crime. This submission was "
            f"added to it (submission {submitted.version}) and the referral is being assessed "
            "again on the combined facts; routes only ever escalate. The decision will be "
            "on the referral."
        )
        return answer
    answer["decision"] = await submission.decision_summary(
        request.app.state.pool, submitted.referral_id, stored
    )
    answer["detail"] = (
        "This person already has an open referral for this crime. This submission was added "
        f"to it (submission {submitted.version}) and the referral was assessed again on the "
        "combined facts; routes only ever escalate."
    )
    return answer


@router.get("/v1/referrals", response_model=answers.Worklist, responses=problems(400))
async def worklist(
    request: Request,
    _: MayListReferrals,
    status: ReferralStatus | None = None,
    service: Service | None = None,
    local_authority: LocalAuthority | None = None,
    breached: bool | None = None,
    action_required: bool | None = None,
    flag: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$")] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The triage worklist, oldest first. The supervisor's lists: ``breached=true`` (a route
    missed a clock) and ``action_required=true`` (a statutory referral, ``flag=`` when given,
    not yet recorded as made)."""
    return await views.worklist(
        request.app.state.pool,
        status=status.value if status else None,
        service=service.value if service else None,
        local_authority=local_authority.value if local_authority else None,
        breached=breached,
        flag=flag,
        cursor=cursor,
        limit=limit,
        cursors=request.app.state.worklist_cursors,
        action_required=action_required,
    )


@router.get("/v1/status-changes", response_model=answers.StatusChanges, responses=problems(400))
async def status_changes(
    request: Request,
    principal: MayFollowReferrals,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Each status change of the referrals you submitted, oldest first, as coded facts:
    ``received``, the decision (``routed``, ``no_service``, ``reassessed``), each route's
    steps (``requested``, ``acknowledged`` accepted or rejected, ``re_referral``,
    ``contact_attempt``, ``outcome``, ``cancelled``), missed clocks (``sla_breached``,
    ``escalated``). Ask again with ``next_cursor`` (always given) for what came after; a
    change shows a few seconds after intake recorded it."""
    return await status_feed.status_changes(
        request.app.state.pool,
        request.app.state.feed_cursors,
        submitted_by=principal.subject,
        cursor=cursor,
        limit=limit,
        settle=request.app.state.feed_settle,
    )


@router.get("/v1/referrals/{referral_id}", response_model=answers.ReferralView)
async def get_referral(
    referral_id: uuid.UUID, pool: Pool, vault: SealedVault, _: MayReadReferral
) -> Any:
    return await views.referral_view(pool, referral_id, vault)


@router.post(
    "/v1/referrals/{referral_id}/consent",
    response_model=answers.ConsentRecorded,
    responses=problems(409),
)
async def record_consent(
    referral_id: uuid.UUID,
    body: ConsentIn,
    pool: Pool,
    vault: SealedVault,
    principal: MayRecordConsent,
) -> Any:
    """Consent given dispatches the held routes; refused or withdrawn stops disclosure at
    once and cancels the routes that needed it. The router decides, under the policy."""
    return await consent.record_consent(
        pool, vault, referral_id, **dict(body), actor=principal.subject
    )


@router.post(
    "/v1/referrals/{referral_id}/override",
    response_model=answers.Overridden,
    responses=problems(409),
)
async def override(
    referral_id: uuid.UUID,
    body: OverrideIn,
    pool: Pool,
    vault: SealedVault,
    principal: MayOverride,
) -> Any:
    """Add or remove a route (supervisors only); recorded as a decision with rule MANUAL."""
    return await overrides.override_routes(
        pool, vault, referral_id, **dict(body), supervisor=principal.subject
    )


@router.post(
    "/v1/referrals/{referral_id}/statutory-referrals",
    status_code=201,
    response_model=answers.StatutoryReferralRecorded,
    responses=problems(409),
)
async def record_statutory_referral(
    referral_id: uuid.UUID,
    body: StatutoryReferralIn,
    request: Request,
    principal: MayRecordStatutoryReferral,
) -> Any:
    """Record that the statutory referral a flag asked for was made (supervisors only): when,
    and the other agency's case reference. The flag leaves the worklist; the timeline shows who
    recorded it."""
    return await statutory_handler.record_made(
        request.app.state.pool,
        referral_id,
        flag=body.flag.value,
        made_at=body.made_at,
        reference=body.reference,
        supervisor=principal.subject,
    )


def _adapter_service(caller: Principal) -> Service | None:
    if caller.service is None or caller.service not in Service.__members__:
        return None
    return Service(caller.service)


def _speaks_for(service: Service, actor: str) -> bool:
    """An adapter speaks only for its own provider's people."""
    return actor.split(":", 1)[0] == service.value


@router.get(
    "/internal/v1/referrals/{referral_id}/contact",
    include_in_schema=False,
    response_model=answers.ContactDetails,
)
async def contact_for_provider(
    referral_id: uuid.UUID,
    request: Request,
    caller: AdapterOfService,
    purpose: Literal["provider_contact"] = "provider_contact",
) -> Any:
    """The vault, for provider adapters: only for an open route to the caller's service."""
    service = _adapter_service(caller)
    if service is None:
        raise NotFound
    return await _disclose(request, referral_id, service, caller.subject, None, purpose)


@router.post(
    "/internal/v1/referrals/{referral_id}/contact",
    include_in_schema=False,
    response_model=answers.ContactDetails,
)
async def contact_for_provider_person(
    referral_id: uuid.UUID, body: ContactReadIn, request: Request, caller: AdapterForPerson
) -> Any:
    """The same, read by a person at the provider (its portal): the disclosure log names
    them (coded actor and name)."""
    service = _adapter_service(caller)
    if service is None:
        raise NotFound
    if not _speaks_for(service, body.actor):
        return problem(
            422,
            "Invalid request",
            "An adapter reads contact details for its own provider's people only.",
            errors=[{"field": "actor", "message": f"must be one of {service.value}'s people"}],
        )
    return await _disclose(request, referral_id, service, body.actor, body.actor_name, body.purpose)


async def _disclose(
    request: Request,
    referral_id: uuid.UUID,
    service: Service,
    accessor: str,
    accessor_name: str | None,
    purpose: str,
) -> Any:
    try:
        return await disclosure.disclose_contact(
            request.app.state.pool,
            request.app.state.vault,
            referral_id,
            service=service,
            accessor=accessor,
            accessor_name=accessor_name,
            purpose=purpose,
        )
    except disclosure.NoLongerDisclosed:
        return problem(
            410, "Gone", "This referral's contact details are no longer disclosed to you."
        )


@router.put("/internal/v1/people/{actor}", include_in_schema=False, status_code=204)
async def name_provider_person(
    actor: events.Actor, body: PersonIn, request: Request, caller: AdapterNamingPerson
) -> Response:
    """Who a coded actor is (their name), so that the timeline names the person."""
    service = _adapter_service(caller)
    if service is None or not _speaks_for(service, actor):
        raise NotFound("No such person at your provider.")
    await disclosure.name_person(
        request.app.state.pool, actor, service=service, display_name=body.display_name
    )
    return Response(status_code=204)


class ProviderNoteIn(RequestBody):
    kind: Literal["rejection_note", "outcome_reason"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    actor: events.Actor | None = None
    """The person at the provider who wrote it (its portal); the adapter itself when
    absent (its API)."""


@router.post(
    "/internal/v1/referrals/{referral_id}/notes",
    include_in_schema=False,
    status_code=201,
    response_model=answers.NoteKept,
)
async def note_from_provider(
    referral_id: uuid.UUID,
    body: ProviderNoteIn,
    request: Request,
    caller: AdapterOfServiceNotes,
) -> Any:
    """A provider's free text about a referral routed to it (a rejection note, an outcome's
    reason), sealed in the vault so that erasure reaches it: adapters keep none."""
    service = _adapter_service(caller)
    if service is None:
        raise NotFound
    if body.actor is not None and not _speaks_for(service, body.actor):
        return problem(
            422,
            "Invalid request",
            "An adapter writes notes for its own provider's people only.",
            errors=[{"field": "actor", "message": f"must be one of {service.value}'s people"}],
        )
    note = await notes.add_provider_note(
        request.app.state.pool,
        request.app.state.vault,
        referral_id,
        service=service,
        kind=body.kind,
        text=body.text,
        author=body.actor or caller.subject,
    )
    return {"note_id": note}


def _token(request: Request) -> str:
    return request.headers["authorization"].split(" ", 1)[1]


def _relay(answer: RouterAnswer) -> Any:
    if answer.status_code == 200:
        return answer.body
    return JSONResponse(
        answer.body, status_code=answer.status_code, media_type="application/problem+json"
    )


def _router_down() -> JSONResponse:
    return problem(
        503,
        "Service unavailable",
        "The router cannot be reached to evaluate the policy; try again shortly.",
        headers={"Retry-After": "5"},
    )


@router.post(
    "/v1/assessments/explain", response_model=policy_api.Explanation, responses=problems(404)
)
async def explain(
    body: ReferralRequest,
    request: Request,
    _: MayExplain,
    policy_version: Annotated[
        str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\.[0-9]{1,3}$")
    ] = None,
) -> Any:
    """The decision the current (or a named) policy version would make for this referral.
    Nothing is stored and nothing is sent: only the coded facts go to the router."""
    facts = coded_facts(body, uuid.uuid4(), datetime.now(UTC))
    client: RouterClient = request.app.state.router_client
    try:
        answer = await client.explain(
            facts.model_dump(mode="json"), token=_token(request), policy_version=policy_version
        )
    except RouterUnavailable:
        return _router_down()
    return _relay(answer)


@router.post("/v1/simulations", response_model=policy_api.Simulation, responses=problems(404))
async def simulate(request: Request, _: MaySimulate, body: policy_api.SimulationRequest) -> Any:
    """What-if simulation of a candidate policy version (the router does the work)."""
    client: RouterClient = request.app.state.router_client
    asked = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    try:
        return _relay(await client.simulate(asked, token=_token(request)))
    except RouterUnavailable:
        return _router_down()


class ErasureIn(RequestBody):
    # A code, not free text: the reason is kept for good, so it must hold nothing personal.
    reason: Literal["data_subject_request", "recorded_in_error", "legal_obligation"]


class Purpose(StrEnum):
    """Why staff read a person's details: a fixed list, so that the disclosure log holds
    codes (a free word could be anything, a name included)."""

    TRIAGE = "triage"
    SAFEGUARDING = "safeguarding"
    CONTACT_THE_PERSON = "contact_the_person"
    MARAC = "marac"
    POLICE_OR_COURT_REQUEST = "police_or_court_request"
    SUBJECT_ACCESS = "subject_access"
    COMPLAINT = "complaint"
    DATA_QUALITY = "data_quality"
    AUDIT = "audit"


@router.get(
    "/v1/referrals/{referral_id}/contact",
    response_model=answers.StaffContactDetails,
    responses=problems(410),
)
async def contact_for_staff(
    referral_id: uuid.UUID,
    pool: Pool,
    vault: SealedVault,
    principal: MayReadContact,
    purpose: Purpose,
) -> Any:
    """The person's contact details and date of birth. Every read is in the disclosure log,
    with who read it and the ``purpose`` given (for example ``triage`` or ``safeguarding``)."""
    return await disclosure.contact_for_staff(
        pool, vault, referral_id, accessor=principal.subject, purpose=purpose.value
    )


@router.get("/v1/referrals/{referral_id}/disclosures", response_model=answers.Disclosures)
async def disclosure_log(referral_id: uuid.UUID, pool: Pool, _: MayReadDisclosures) -> Any:
    return await disclosure.disclosures(pool, referral_id)


@router.post(
    "/v1/referrals/{referral_id}/erasure", response_model=answers.Erased, responses=problems(409)
)
async def erase(
    referral_id: uuid.UUID,
    body: ErasureIn,
    pool: Pool,
    vault: SealedVault,
    principal: MayErase,
) -> Any:
    """Erase the referral's personal data (a data subject's request, say); coded facts stay."""
    return await erasure.erase(pool, vault, referral_id, **dict(body), actor=principal.subject)


@router.patch(
    "/v1/referrals/{referral_id}/contact",
    response_model=answers.ContactChanged,
    responses=problems(409, 410),
)
async def change_contact(
    referral_id: uuid.UUID,
    body: ContactChange,
    request: Request,
    principal: MayChangeContact,
) -> Any:
    """Correct or change the person's contact details: any subset of the contact fields, as
    on submission (``null`` removes an optional one). The previous details stay sealed in the
    vault; the timeline records ``contact_changed`` with the fields' names only; every
    provider with an open route is told at once and must read the details again before it
    contacts the person."""
    try:
        changed = await contact_change.change_contact(
            request.app.state.pool,
            request.app.state.vault,
            referral_id,
            body.given(),
            actor=principal.subject,
            identity_key=request.app.state.identity_key,
        )
    except InvalidChange as exc:
        return problem(
            422,
            "Invalid request",
            "Some fields are missing or invalid; nothing was changed.",
            errors=exc.errors,
        )
    telemetry.tag_referral(referral_id)
    return {
        "referral_id": str(referral_id),
        "changed": [f.value for f in changed.fields],
        "contact_version": changed.version,
        "providers_told": list(changed.providers_told),
        "links": {
            "self": f"/v1/referrals/{referral_id}",
            "contact": f"/v1/referrals/{referral_id}/contact",
        },
    }


@router.get(
    "/v1/subject-access",
    response_model=answers.SubjectAccessExport,
    responses={
        200: {
            "description": "The export: JSON, or a readable document (Accept: text/html or "
            "format=html)",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **problems(404),
    },
)
async def subject_access_export(
    request: Request,
    principal: MayExportSubjectAccess,
    referral_id: uuid.UUID,
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Everything the hub holds about the person of ``referral_id``, across every referral
    matched to them (supervisors only): personal data with its earlier versions, coded facts,
    decisions with reasons, routes with their histories and outcomes, and who read the
    details, when and why. JSON, or a readable document (``Accept: text/html`` or
    ``format=html``). Each export is recorded in the disclosure log (purpose
    ``subject_access``)."""
    export = await subject_access.export(
        request.app.state.pool,
        request.app.state.vault,
        referral_id,
        accessor=principal.subject,
    )
    as_html = format == "html" or (
        format is None and accept is not None and "text/html" in accept.split(",")[0]
    )
    if as_html:
        return HTMLResponse(
            subject_access_document.render(export),
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(export, headers={"Cache-Control": "no-store"})
