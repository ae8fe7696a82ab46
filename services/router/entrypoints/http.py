"""The router's HTTP API: explain a decision, list policy versions, simulate a candidate.
Staff reach these through intake (contract: ``POST /v1/assessments/explain``) or directly."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from schemas.events import ReferralFacts
from schemas.policy_api import (
    POLICY_VERSION_PATTERN,
    Explanation,
    PolicyVersions,
    Simulation,
    SimulationRequest,
)
from schemas.requests import RequestBody
from services.plumbing.answers import typed_router
from services.plumbing.auth import Principal, allow
from services.plumbing.http import problem
from services.plumbing.openapi import problems
from services.router import handlers
from services.router.domain.policy.book import NoPolicyInForce, UnknownPolicyVersion
from services.router.domain.simulation import commissioner_view
from services.router.entrypoints.authorization import ACCESS

router = typed_router()

Explainers = Annotated[Principal, allow(ACCESS, "POST /v1/decisions/explain")]
PolicyReaders = Annotated[Principal, allow(ACCESS, "GET /v1/policies")]
Commissioning = Annotated[Principal, allow(ACCESS, "POST /v1/simulations")]


class ExplainRequest(RequestBody):
    facts: ReferralFacts


def _version_problem(exc: Exception) -> Any:
    if isinstance(exc, UnknownPolicyVersion):
        # Never the version asked for: what a client sends is not repeated back.
        return problem(404, "Not found", "There is no such policy version; GET /v1/policies.")
    return problem(503, "Service unavailable", str(exc))


@router.post("/v1/decisions/explain", response_model=Explanation, responses=problems(404))
async def explain(
    body: ExplainRequest,
    request: Request,
    _: Explainers,
    policy_version: Annotated[str | None, Query(pattern=POLICY_VERSION_PATTERN)] = None,
) -> Any:
    try:
        return handlers.explain_facts(request.app.state.router, body.facts, policy_version)
    except (UnknownPolicyVersion, NoPolicyInForce) as exc:
        return _version_problem(exc)


@router.get("/v1/policies", response_model=PolicyVersions)
async def policies(request: Request, _: PolicyReaders) -> Any:
    state: handlers.Router = request.app.state.router
    current = state.policy_now().id  # re-reads the policy directory first, if it changed
    return {
        "in_force": current,
        "versions": [
            {
                "version": v.version,
                "effective_from": v.manifest.effective_from.isoformat(),
                "status": v.manifest.status.value,
                "title": v.manifest.title,
                "in_force": v.version == current,
            }
            for v in state.policies.versions()
        ],
    }


@router.post("/v1/simulations", response_model=Simulation, responses=problems(404))
async def simulation(body: SimulationRequest, request: Request, who: Commissioning) -> Any:
    """A candidate policy version on the referrals received in a period. Supervisors get
    each changed referral with its coded facts; commissioners get counts only, small ones
    suppressed (``simulation.commissioner_view``)."""
    try:
        report = await handlers.simulate_period(
            request.app.state.router,
            candidate=body.candidate_version,
            baseline=body.baseline_version,
            first=body.first,
            last=body.last,
        )
    except (UnknownPolicyVersion, NoPolicyInForce) as exc:
        return _version_problem(exc)
    return report if "supervisor" in who.roles else commissioner_view(report)
