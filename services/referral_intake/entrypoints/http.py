"""Intake's HTTP API (contract: "Intake API"). Thin: map the request to a handler call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse

from schemas.codes import Service
from services.plumbing.auth import SERVICE_ROLE, Principal, require_roles
from services.plumbing.http import problem
from services.referral_intake import handlers
from services.referral_intake.adapters.router_client import (
    RouterAnswer,
    RouterClient,
    RouterUnavailable,
)
from services.referral_intake.domain.referral import ReferralRequest, coded_facts

router = APIRouter()

Staff = Annotated[Principal, Depends(require_roles("triage", "supervisor"))]
AnyStaff = Annotated[Principal, Depends(require_roles("triage", "supervisor", "commissioner"))]
Commissioning = Annotated[Principal, Depends(require_roles("commissioner", "supervisor"))]
ServiceCaller = Annotated[Principal, Depends(require_roles(SERVICE_ROLE))]

NOT_FOUND_DETAIL = "No referral with that id is available to you."


def _not_found() -> JSONResponse:
    return problem(404, "Not found", NOT_FOUND_DETAIL)


@router.post("/v1/referrals", status_code=202)
async def submit_referral(
    body: ReferralRequest,
    request: Request,
    principal: Staff,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    try:
        submitted = await handlers.submit_referral(
            request.app.state.pool,
            body,
            submitted_by=principal.subject,
            idempotency_key=idempotency_key,
        )
    except handlers.IdempotencyConflict:
        return problem(
            409,
            "Conflict",
            "This Idempotency-Key was already used with a different referral; nothing was stored.",
        )
    referral_id = str(submitted.referral_id)
    return JSONResponse(
        {
            "referral_id": referral_id,
            "status": submitted.status,
            "links": {"self": f"/v1/referrals/{referral_id}"},
        },
        status_code=202,
        headers={"Location": f"/v1/referrals/{referral_id}"},
    )


@router.get("/v1/referrals/{referral_id}")
async def get_referral(referral_id: uuid.UUID, request: Request, _: Staff) -> Any:
    try:
        return await handlers.referral_view(request.app.state.pool, referral_id)
    except handlers.NotFound:
        return _not_found()


@router.get("/internal/v1/referrals/{referral_id}/contact", include_in_schema=False)
async def contact_for_provider(
    referral_id: uuid.UUID,
    request: Request,
    caller: ServiceCaller,
    purpose: str = "provider_contact",
) -> Any:
    """The vault, for provider adapters: only for an open route to the caller's service."""
    if caller.service is None or caller.service not in Service.__members__:
        return _not_found()
    try:
        return await handlers.disclose_contact(
            request.app.state.pool,
            referral_id,
            service=Service(caller.service),
            accessor=caller.subject,
            purpose=purpose[:60],
        )
    except handlers.NotFound:
        return _not_found()


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


@router.post("/v1/assessments/explain")
async def explain(
    body: ReferralRequest, request: Request, _: AnyStaff, policy_version: str | None = None
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


@router.post("/v1/simulations")
async def simulate(
    request: Request, _: Commissioning, body: Annotated[dict[str, Any], Body()]
) -> Any:
    """What-if simulation of a candidate policy version (the router does the work)."""
    client: RouterClient = request.app.state.router_client
    try:
        return _relay(await client.simulate(body, token=_token(request)))
    except RouterUnavailable:
        return _router_down()
