"""Deciding again after something changed: which routes to dispatch, keep and cancel.

A consent change re-runs the whole policy and compares its routes with the open ones. A
rejection, a second acknowledgement breach or a supervisor's change asks the policy's
adjustments graph what to do about that one route.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from schemas.codes import ConsentBasis, ConsentStatus, ReferralStatus, RouteStatus, Service
from schemas.events import OpenRoute, ReassessmentRequested
from services.router.domain.decision import Adjustment, Decision, RouteChoice

CONSENT_TRIGGERS = frozenset({"consent_given", "consent_refused", "consent_withdrawn"})
ADJUSTMENT_TRIGGERS = frozenset({"route_rejected", "sla_reroute", "override_add"})


@dataclass(frozen=True)
class Plan:
    trigger: str
    policy_version: str
    status: ReferralStatus
    enhanced_rights: bool
    da_risk: str | None
    dispatch: tuple[RouteChoice, ...] = ()
    keep: tuple[uuid.UUID, ...] = ()
    cancel: tuple[tuple[OpenRoute, str], ...] = ()
    held: tuple[RouteChoice, ...] = ()
    flags: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    reason: str | None = None
    no_service_reason: str | None = field(default=None)
    request_id: uuid.UUID | None = None


def _key(service: Service, sub_service: str) -> tuple[Service, str]:
    return service, sub_service


def after_consent_change(request: ReassessmentRequested, decision: Decision) -> Plan:
    """The new decision's routes, less those already open; open routes it no longer has
    are cancelled. A service that rejected this referral is not sent it again."""
    open_routes = {_key(r.service, r.sub_service): r for r in request.open_routes}
    rejected = {r.service for r in request.ended_routes if r.status is RouteStatus.REJECTED}
    wanted = {_key(c.service, c.sub_service) for c in decision.routes}
    cancel_reason = {
        "consent_withdrawn": "consent_withdrawn",
        "consent_refused": "consent_refused",
    }.get(request.trigger, "superseded")
    return Plan(
        request_id=request.request_id,
        trigger=request.trigger,
        policy_version=decision.policy_version,
        status=decision.status,
        enhanced_rights=decision.enhanced_rights,
        da_risk=decision.da_risk,
        dispatch=tuple(
            c
            for c in decision.routes
            if _key(c.service, c.sub_service) not in open_routes and c.service not in rejected
        ),
        keep=tuple(r.route_id for k, r in open_routes.items() if k in wanted),
        cancel=tuple((r, cancel_reason) for k, r in open_routes.items() if k not in wanted),
        held=decision.held_routes,
        flags=decision.flags,
        rule_ids=decision.rule_ids,
        no_service_reason=decision.reason.value if decision.reason else None,
    )


def after_adjustment(
    request: ReassessmentRequested, adjustment: Adjustment, decision: Decision
) -> Plan:
    """One route changes; everything else stays as it is. ``decision`` supplies the
    referral's derived facts (enhanced rights, DA risk) for the record."""
    assert request.change is not None
    change = request.change
    dispatch: tuple[RouteChoice, ...] = ()
    if adjustment.route is not None:
        basis = change.consent_basis or (
            ConsentBasis.EXPLICIT_CONSENT
            if request.facts.consent is ConsentStatus.GIVEN
            else ConsentBasis.SUPERVISOR_DECISION
        )
        dispatch = (replace(adjustment.route, consent_basis=basis),)
    cancel: tuple[tuple[OpenRoute, str], ...] = ()
    if request.trigger == "sla_reroute":
        cancel = tuple(
            (r, "sla_reroute") for r in request.open_routes if r.route_id == change.route_id
        )
    remaining = [
        r for r in request.open_routes if r.route_id not in {c.route_id for c, _ in cancel}
    ]
    return Plan(
        request_id=request.request_id,
        trigger=request.trigger,
        policy_version=adjustment.policy_version,
        status=ReferralStatus.ROUTED if dispatch or remaining else ReferralStatus.NO_SERVICE,
        enhanced_rights=decision.enhanced_rights,
        da_risk=decision.da_risk,
        dispatch=dispatch,
        keep=tuple(r.route_id for r in remaining),
        cancel=cancel,
        flags=(adjustment.flag,) if adjustment.flag else (),
        rule_ids=(adjustment.rule_id,),
        reason=adjustment.reason,
    )


def after_removal(request: ReassessmentRequested, decision: Decision) -> Plan:
    """A supervisor ends one route (rule ``MANUAL``)."""
    assert request.change is not None
    change = request.change
    cancel = tuple(
        (r, "override")
        for r in request.open_routes
        if r.route_id == change.route_id
        or (change.route_id is None and r.service is change.service)
    )
    removed = {r.route_id for r, _ in cancel}
    remaining = [r for r in request.open_routes if r.route_id not in removed]
    return Plan(
        request_id=request.request_id,
        trigger=request.trigger,
        policy_version=decision.policy_version,
        status=ReferralStatus.ROUTED if remaining else ReferralStatus.NO_SERVICE,
        enhanced_rights=decision.enhanced_rights,
        da_risk=decision.da_risk,
        keep=tuple(r.route_id for r in remaining),
        cancel=cancel,
        rule_ids=("MANUAL",),
        reason="removed by a supervisor (override)",
    )
