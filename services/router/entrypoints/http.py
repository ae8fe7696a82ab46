"""The router's HTTP API: explain a decision, list policy versions, simulate a candidate.
Staff reach these through intake (contract: ``POST /v1/assessments/explain``) or directly."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field, model_validator

from schemas.events import ReferralFacts
from schemas.requests import RequestBody
from services.plumbing.auth import Principal, allow
from services.plumbing.http import problem
from services.router import handlers
from services.router.domain.policy.book import NoPolicyInForce, UnknownPolicyVersion
from services.router.domain.simulation import commissioner_view
from services.router.entrypoints.authorization import ACCESS

router = APIRouter()

Explainers = Annotated[Principal, allow(ACCESS, "POST /v1/decisions/explain")]
PolicyReaders = Annotated[Principal, allow(ACCESS, "GET /v1/policies")]
Commissioning = Annotated[Principal, allow(ACCESS, "POST /v1/simulations")]
MAX_SIMULATION_DAYS = 400
POLICY_VERSION_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\.[0-9]{1,3}$"
"""A policy version id: its effective date and a number (``2026-11-01.1``), the directory
name under ``services/router/policy/``. Anything else is refused before it is looked up."""
PolicyVersionId = Annotated[str, Field(pattern=POLICY_VERSION_PATTERN)]


class ExplainRequest(RequestBody):
    facts: ReferralFacts


class SimulationRequest(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    candidate_version: PolicyVersionId
    baseline_version: PolicyVersionId | None = None
    first: date = Field(alias="from")
    last: date = Field(alias="to")

    @model_validator(mode="after")
    def _period(self) -> SimulationRequest:
        if self.last < self.first:
            raise ValueError("'to' is before 'from'")
        if (self.last - self.first).days > MAX_SIMULATION_DAYS:
            raise ValueError(f"a simulation covers at most {MAX_SIMULATION_DAYS} days")
        return self


def _version_problem(exc: Exception) -> Any:
    if isinstance(exc, UnknownPolicyVersion):
        # Never the version asked for: what a client sends is not repeated back.
        return problem(404, "Not found", "There is no such policy version; GET /v1/policies.")
    return problem(503, "Service unavailable", str(exc))


@router.post("/v1/decisions/explain")
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


@router.get("/v1/policies")
async def policies(request: Request, _: PolicyReaders) -> dict[str, Any]:
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


@router.post("/v1/simulations")
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
