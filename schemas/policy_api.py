"""What the router's policy API takes and answers (``POST /v1/decisions/explain``,
``GET /v1/policies``, ``POST /v1/simulations``), typed once: intake relays explain and
simulations to staff (``POST /v1/assessments/explain``, ``POST /v1/simulations``) and
publishes the same shapes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from schemas.answers import Answer
from schemas.requests import RequestBody, field_errors

MAX_SIMULATION_DAYS = 400
POLICY_VERSION_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\.[0-9]{1,3}$"
"""A policy version id: its effective date and a number (``2026-11-01.1``), the directory
name under ``services/router/policy/``. Anything else is refused before it is looked up."""
PolicyVersionId = Annotated[str, Field(pattern=POLICY_VERSION_PATTERN)]


class SimulationRequest(RequestBody):
    """A candidate policy version on the referrals received from ``from`` to ``to`` (days
    in England, at most ``MAX_SIMULATION_DAYS`` apart, ``to`` not before ``from``)."""

    model_config = ConfigDict(populate_by_name=True)

    candidate_version: PolicyVersionId
    baseline_version: PolicyVersionId | None = None
    first: date = Field(alias="from")
    last: date = Field(alias="to")

    @model_validator(mode="after")
    def _period(self) -> SimulationRequest:
        if self.last < self.first:
            raise field_errors((("to",), "is before 'from'"))
        if (self.last - self.first).days > MAX_SIMULATION_DAYS:
            raise field_errors(
                (
                    ("to",),
                    f"is more than {MAX_SIMULATION_DAYS} days after 'from': a simulation "
                    f"covers at most {MAX_SIMULATION_DAYS} days",
                )
            )
        return self


class RouteChoice(Answer):
    service: str
    sub_service: str | None
    priority: str
    rule_ids: list[str]
    reason: str | None
    consent_basis: str | None = Field(default=None, description="Absent on a held route")


class Explanation(Answer):
    """The decision a policy version makes on the coded facts, and why."""

    policy_version: str
    status: str
    reason: str | None
    enhanced_rights: bool
    da_risk: str | None
    flags: list[str]
    routes: list[RouteChoice]
    held_routes: list[RouteChoice]
    rule_ids: list[str]


class PolicyVersion(Answer):
    version: str
    effective_from: date
    status: str
    title: str
    in_force: bool


class PolicyVersions(Answer):
    in_force: str
    versions: list[PolicyVersion]


Counts = dict[str, int | None]


class Simulation(Answer):
    """A simulation's figures. Supervisors get each changed referral (``changed``, with its
    coded facts); commissioners get counts only (``changes``), each small count suppressed
    (``null``, its path in ``suppressed``)."""

    baseline_version: str
    candidate_version: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    referrals: int | None
    changed_count: int | None
    changed_with_the_same_rules: int | None = None
    services: dict[str, Counts]
    statuses: dict[str, Counts]
    rules: dict[str, Counts]
    changed: list[dict[str, Any]] | None = Field(default=None, description="Supervisors only")
    changed_truncated: bool | None = None
    changes: list[dict[str, Any]] | None = Field(default=None, description="Commissioners only")
    changes_truncated: bool | None = None
    suppressed: list[str] | None = None
    small_count_threshold: int | None = None
