"""Deciding again after something changed: which routes to dispatch, keep and cancel.

A consent change re-runs the whole policy and compares its routes with the open ones. A
rejection, a second acknowledgement breach or a supervisor's change asks the policy's
adjustments graph what to do about that one route.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from schemas.codes import (
    ConsentBasis,
    ConsentStatus,
    Priority,
    ReferralStatus,
    RouteStatus,
    Service,
    Trigger,
)
from schemas.events import OpenRoute, ReassessmentRequested
from services.router.domain.decision import Adjustment, Decision, RouteChoice

CONSENT_TRIGGERS = frozenset(
    {Trigger.CONSENT_GIVEN, Trigger.CONSENT_REFUSED, Trigger.CONSENT_WITHDRAWN}
)
ADJUSTMENT_TRIGGERS = frozenset({Trigger.ROUTE_REJECTED, Trigger.SLA_REROUTE, Trigger.OVERRIDE_ADD})


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

    @classmethod
    def of_decision(
        cls,
        decision: Decision,
        trigger: str,
        *,
        dispatch: tuple[RouteChoice, ...],
        keep: tuple[uuid.UUID, ...] = (),
        cancel: tuple[tuple[OpenRoute, str], ...] = (),
        request_id: uuid.UUID | None = None,
    ) -> Plan:
        """The plan that carries out ``decision`` as the policy made it (its version,
        status, facts, held routes, flags, rules and no-service reason), with these route
        changes."""
        return cls(
            trigger=trigger,
            policy_version=decision.policy_version,
            status=decision.status,
            enhanced_rights=decision.enhanced_rights,
            da_risk=decision.da_risk,
            dispatch=dispatch,
            keep=keep,
            cancel=cancel,
            held=decision.held_routes,
            flags=decision.flags,
            rule_ids=decision.rule_ids,
            no_service_reason=decision.reason.value if decision.reason else None,
            request_id=request_id,
        )


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
    return Plan.of_decision(
        decision,
        request.trigger,
        dispatch=tuple(
            c
            for c in decision.routes
            if _key(c.service, c.sub_service) not in open_routes and c.service not in rejected
        ),
        keep=tuple(r.route_id for k, r in open_routes.items() if k in wanted),
        cancel=tuple((r, cancel_reason) for k, r in open_routes.items() if k not in wanted),
        request_id=request.request_id,
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
    if request.trigger == Trigger.SLA_REROUTE:
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


RESUBMISSION_TRIGGER = Trigger.RESUBMITTED
CONSENT_CONTACT = "consent_contact"
PRIORITY_RANK = {Priority.STANDARD: 0, Priority.HIGH: 1, Priority.URGENT: 2}
NEEDS_CONSENT_ON_RECORD = frozenset(
    {ConsentBasis.EXPLICIT_CONSENT, ConsentBasis.OPT_OUT_NOT_EXERCISED}
)


def _higher(a: Priority, b: Priority) -> Priority:
    return a if PRIORITY_RANK[a] >= PRIORITY_RANK[b] else b


def after_resubmission(request: ReassessmentRequested, decision: Decision) -> Plan:
    """A new submission for an open referral: ``decision`` is the policy's on the combined
    picture (intake combines the facts so that none is lost, see intake's
    ``domain/resubmission.py``). Routes only ever escalate:

    - a route the decision wants and no open route gives is dispatched (to a service that
      rejected this referral only when the priority is now higher than when it rejected);
    - an open route to the same service at a lower priority or another sub-service is
      superseded: cancelled and dispatched again as the decision wants it, at the higher of
      the two priorities (the provider's new work item carries the new clocks; the Victims'
      Code clock is unchanged);
    - an open route the decision no longer wants is kept, never silently dropped, except
      where the policy itself sends another route instead: a VAL route gives way to a
      specialist route at least as urgent (VAL routes only when no specialist does, rule
      R-VAL); VAL's consent contact ends once nothing waits for consent; DIVERT gives way
      to CLIMB, or to being held back for review, once exploitation is indicated (rule
      R-DIVERT-CCE-SCREEN: a child found with drugs is screened before being diverted); and
      a route that relied on consent ends when consent is now refused (the person's
      withdrawal, not a downgrade: safeguarding routes the policy sends without consent
      stay). Every ended route is named on the decision with its reason.
    """
    changes = _RouteChanges()
    _place_wanted_routes(request, decision, changes)
    _settle_other_open_routes(request, decision, changes)
    dispatch, keep, cancel = changes.dispatch, changes.keep, changes.cancel
    status = decision.status
    if status is ReferralStatus.NO_SERVICE and (keep or dispatch):
        status = ReferralStatus.ROUTED
    return Plan(
        request_id=request.request_id,
        trigger=request.trigger,
        policy_version=decision.policy_version,
        status=status,
        enhanced_rights=decision.enhanced_rights,
        da_risk=decision.da_risk,
        dispatch=tuple(dispatch),
        keep=tuple(keep),
        cancel=tuple(cancel),
        held=decision.held_routes,
        flags=decision.flags,
        rule_ids=decision.rule_ids,
        no_service_reason=(
            decision.reason.value
            if decision.reason and status is ReferralStatus.NO_SERVICE
            else None
        ),
    )


@dataclass
class _RouteChanges:
    """What a resubmission's decision does to the referral's routes, built up route by
    route; ``handled`` holds the open routes already settled."""

    dispatch: list[RouteChoice] = field(default_factory=list)
    cancel: list[tuple[OpenRoute, str]] = field(default_factory=list)
    keep: list[uuid.UUID] = field(default_factory=list)
    handled: set[uuid.UUID] = field(default_factory=set)

    def keep_all(self, routes: list[OpenRoute]) -> None:
        self.keep += [r.route_id for r in routes]
        self.handled.update(r.route_id for r in routes)


def _place_wanted_routes(
    request: ReassessmentRequested, decision: Decision, changes: _RouteChanges
) -> None:
    """Each route the decision wants: kept where an open route gives it, dispatched where
    none does (unless its service rejected the referral at that priority or higher), or
    dispatched again at the higher priority in place of the open routes to its service."""
    open_by_service: dict[Service, list[OpenRoute]] = {}
    for r in request.open_routes:
        open_by_service.setdefault(r.service, []).append(r)
    rejected = {
        r.service: r.priority for r in request.ended_routes if r.status is RouteStatus.REJECTED
    }
    for choice in decision.routes:
        current = open_by_service.get(choice.service, [])
        same = [r for r in current if r.sub_service == choice.sub_service]
        if choice.sub_service == CONSENT_CONTACT and current and not same:
            # VAL is already in touch with the person: it asks for consent on that route.
            changes.keep_all(current)
            continue
        if same and all(PRIORITY_RANK[r.priority] >= PRIORITY_RANK[choice.priority] for r in same):
            changes.keep_all(same)
            continue
        if current:
            priority = choice.priority
            for r in current:
                priority = _higher(priority, r.priority)
                changes.cancel.append((r, "superseded"))
                changes.handled.add(r.route_id)
            changes.dispatch.append(replace(choice, priority=priority))
            continue
        was_rejected_at = rejected.get(choice.service)
        if (
            was_rejected_at is not None
            and PRIORITY_RANK[choice.priority] <= PRIORITY_RANK[was_rejected_at]
        ):
            continue
        changes.dispatch.append(choice)


def _settle_other_open_routes(
    request: ReassessmentRequested, decision: Decision, changes: _RouteChanges
) -> None:
    """The open routes the decision does not want: kept, unless consent is now refused, or
    the policy sends another route instead (see ``after_resubmission``)."""
    refused = request.facts.consent is ConsentStatus.REFUSED
    specialist_rank = max(
        (PRIORITY_RANK[c.priority] for c in decision.routes if c.service is not Service.VAL),
        default=-1,
    )
    screened = any(c.service is Service.CLIMB for c in decision.routes) or any(
        h.service is Service.DIVERT for h in decision.held_routes
    )
    for r in request.open_routes:
        if r.route_id in changes.handled:
            continue
        if refused and r.consent_basis in NEEDS_CONSENT_ON_RECORD:
            changes.cancel.append((r, "consent_withdrawn"))
        elif r.service is Service.VAL and r.sub_service == CONSENT_CONTACT:
            if decision.held_routes:
                changes.keep.append(r.route_id)
            else:
                changes.cancel.append((r, "superseded"))
        elif (r.service is Service.VAL and specialist_rank >= PRIORITY_RANK[r.priority]) or (
            r.service is Service.DIVERT and screened
        ):
            changes.cancel.append((r, "superseded"))
        else:
            changes.keep.append(r.route_id)
