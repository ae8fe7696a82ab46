"""Deciding again after a change: the routes to dispatch, keep and cancel."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from schemas.codes import ConsentBasis, ReferralStatus, RouteStatus, Service
from schemas.events import IncidentFacts, OpenRoute, ReassessmentRequested, RouteChange
from services.router.adapters.policy_files import load_book
from services.router.domain.reassessment import (
    after_adjustment,
    after_consent_change,
    after_removal,
)
from tests.unit.test_policy_facts import facts

POLICY = load_book().in_force(date(2026, 11, 21))
SEXUAL_OFFENCE = IncidentFacts(crime_types=["sexual_offence"])


def _open(service: str, sub: str, status: str = "requested", **extra: Any) -> OpenRoute:
    return OpenRoute(
        route_id=uuid.uuid4(),
        service=service,
        sub_service=sub,
        priority="high",
        status=status,
        **extra,
    )


def _request(
    trigger: str, consent: str, open_routes: list[OpenRoute], **extra: Any
) -> ReassessmentRequested:
    return ReassessmentRequested(
        trigger=trigger,
        facts=facts(incident=SEXUAL_OFFENCE, consent=consent),
        open_routes=open_routes,
        **extra,
    )


def test_consent_given_dispatches_held_routes_and_supersedes_the_consent_contact() -> None:
    contact = _open("VAL", "consent_contact")
    request = _request("consent_given", "given", [contact])
    plan = after_consent_change(request, POLICY.decide(request.facts))
    assert [(c.service, c.sub_service) for c in plan.dispatch] == [(Service.ISVA, "adult")]
    assert plan.cancel == ((contact, "superseded"),)
    assert plan.status is ReferralStatus.ROUTED


def test_withdrawal_cancels_routes_that_needed_consent() -> None:
    isva = _open("ISVA", "adult", "accepted", consent_basis=ConsentBasis.EXPLICIT_CONSENT)
    request = _request("consent_withdrawn", "refused", [isva])
    plan = after_consent_change(request, POLICY.decide(request.facts))
    assert plan.dispatch == ()
    assert plan.cancel == ((isva, "consent_withdrawn"),)
    assert plan.status is ReferralStatus.NO_SERVICE


def test_a_route_still_wanted_is_kept_not_sent_again() -> None:
    isva = _open("ISVA", "adult", "accepted")
    request = _request("consent_given", "given", [isva])
    plan = after_consent_change(request, POLICY.decide(request.facts))
    assert plan.keep == (isva.route_id,)
    assert plan.dispatch == ()
    assert plan.cancel == ()


def test_a_service_that_rejected_is_not_sent_the_referral_again() -> None:
    rejected = _open("ISVA", "adult", "rejected")
    request = _request("consent_given", "given", [], ended_routes=[rejected])
    plan = after_consent_change(request, POLICY.decide(request.facts))
    assert Service.ISVA not in {c.service for c in plan.dispatch}


def test_rejection_re_refers_to_val_with_the_reason_and_the_same_consent_basis() -> None:
    val_core = _open("VAL", "core")
    change = RouteChange(
        route_id=uuid.uuid4(),
        service="ISVA",
        sub_service="adult",
        priority="urgent",
        rejection_reason="capacity",
        consent_basis="explicit_consent",
    )
    request = _request("route_rejected", "given", [val_core], change=change)
    adjustment = POLICY.adjust(
        {
            "trigger": "route_rejected",
            "service": "ISVA",
            "priority": "urgent",
            "rejection_reason": "capacity",
        },
        request.facts,
    )
    plan = after_adjustment(request, adjustment, POLICY.decide(request.facts))
    (route,) = plan.dispatch
    assert (route.service, route.sub_service, route.priority.value) == (
        Service.VAL,
        "re_referral",
        "urgent",
    )
    assert route.consent_basis is ConsentBasis.EXPLICIT_CONSENT
    assert "ISVA rejected the referral (capacity)" in route.reason
    assert plan.rule_ids == ("R-REJECTED-REROUTE",)
    assert plan.keep == (val_core.route_id,)


def test_val_rejecting_goes_to_the_supervisor_not_round_in_a_circle() -> None:
    change = RouteChange(
        route_id=uuid.uuid4(), service="VAL", sub_service="core", rejection_reason="out_of_area"
    )
    request = _request("route_rejected", "given", [], change=change)
    adjustment = POLICY.adjust(
        {
            "trigger": "route_rejected",
            "service": "VAL",
            "priority": None,
            "rejection_reason": "out_of_area",
        },
        request.facts,
    )
    plan = after_adjustment(request, adjustment, POLICY.decide(request.facts))
    assert plan.dispatch == ()
    assert plan.flags == ("supervisor_review",)


def test_second_acknowledgement_breach_replaces_the_route_with_val() -> None:
    late = _open("IDVA", "core", "escalated")
    change = RouteChange(
        route_id=late.route_id, service="IDVA", sub_service="core", priority="urgent"
    )
    request = _request("sla_reroute", "given", [late], change=change)
    adjustment = POLICY.adjust(
        {"trigger": "sla_reroute", "service": "IDVA", "priority": "urgent"}, request.facts
    )
    plan = after_adjustment(request, adjustment, POLICY.decide(request.facts))
    assert [(c.service, c.sub_service) for c in plan.dispatch] == [(Service.VAL, "re_referral")]
    assert plan.cancel == ((late, "sla_reroute"),)


def test_supervisor_removal_cancels_that_route_only() -> None:
    val, climb = _open("VAL", "core"), _open("CLIMB", "core")
    request = _request(
        "override_remove",
        "given",
        [val, climb],
        change=RouteChange(route_id=climb.route_id, service="CLIMB"),
    )
    plan = after_removal(request, POLICY.decide(request.facts))
    assert plan.cancel == ((climb, "override"),)
    assert plan.keep == (val.route_id,)
    assert plan.rule_ids == ("MANUAL",)


def test_status_of_an_ended_route_is_not_open() -> None:
    assert RouteStatus("rejected") is RouteStatus.REJECTED
