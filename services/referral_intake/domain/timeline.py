"""Projecting the router's decisions onto the referral: what is stored as its decision, and
the timeline entry each decision makes. Pure: the consumer loads what was stored before,
asks these, and saves.

A decision after one route changed (a rejection, an SLA re-route, an override) leaves the
referral's assessment as it stood: only its flags accumulate. A full re-assessment replaces
it, except that a resubmission never takes a flag away (escalation only: MARAC, emergency and
safeguarding flags raised before stay raised)."""

from __future__ import annotations

from typing import Any

from schemas.codes import ReferralStatus, Trigger
from schemas.events import ReferralRouted

FULL_ASSESSMENTS = frozenset(
    {
        Trigger.RECEIVED,
        Trigger.CONSENT_GIVEN,
        Trigger.CONSENT_REFUSED,
        Trigger.CONSENT_WITHDRAWN,
        Trigger.RESUBMITTED,
    }
)
"""Triggers after which the router decided the whole referral again (not just one route)."""

_TIMELINE_EVENT: dict[str, str] = {
    Trigger.RECEIVED: "routed",
    Trigger.CONSENT_GIVEN: "reassessed",
    Trigger.CONSENT_REFUSED: "reassessed",
    Trigger.CONSENT_WITHDRAWN: "reassessed",
    Trigger.ROUTE_REJECTED: "rerouted",
    Trigger.SLA_REROUTE: "rerouted",
    Trigger.OVERRIDE_ADD: "override",
    Trigger.OVERRIDE_REMOVE: "override",
    Trigger.RESUBMITTED: "reassessed",
}


def is_full_assessment(trigger: str) -> bool:
    return trigger in FULL_ASSESSMENTS


def keeps_earlier_flags(trigger: str) -> bool:
    """Whether the stored decision keeps the flags of the one before (so the caller loads it)."""
    return not is_full_assessment(trigger) or trigger == Trigger.RESUBMITTED


def stored_decision(decision: ReferralRouted, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The referral's decision after ``decision``, given the one stored before (needed only
    when ``keeps_earlier_flags``), as the JSON ``GET /v1/referrals/{id}`` shows."""
    earlier = previous or {}
    flags = list(dict.fromkeys(earlier.get("flags", []) + decision.flags))
    if not is_full_assessment(decision.trigger):
        return {**earlier, "flags": flags, "policy_version": decision.policy_version}
    stored = decision.model_dump(mode="json")
    if decision.trigger == Trigger.RESUBMITTED:
        stored["flags"] = flags
    return stored


def decision_event(decision: ReferralRouted) -> str:
    """The name of the timeline entry ``decision`` makes: ``routed`` (or ``no_service``) for
    the first, ``reassessed``, ``rerouted`` or ``override`` after."""
    if decision.trigger == Trigger.RECEIVED and decision.status is ReferralStatus.NO_SERVICE:
        return "no_service"
    return _TIMELINE_EVENT.get(decision.trigger, "reassessed")


def decision_detail(decision: ReferralRouted) -> dict[str, Any]:
    """The timeline entry's detail: codes only (never a note or a name)."""
    return {
        "trigger": decision.trigger,
        "policy_version": decision.policy_version,
        "decision_status": decision.status.value,
        "rule_ids": decision.rule_ids,
        "services": [r.service.value for r in decision.routes],
        "held_services": [r.service.value for r in decision.held_routes],
        "cancelled_services": [r.service.value for r in decision.cancelled_routes],
        "flags": decision.flags,
        **({"reason": decision.reason.value} if decision.reason else {}),
    }
