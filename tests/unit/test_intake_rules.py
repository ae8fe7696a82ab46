"""Intake's rules, without a database: consent changes, supervisors' overrides, the SLA clocks
and the projection of the router's decisions onto the referral (issue 17: the handlers load,
ask these, and save)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas.codes import ConsentStatus, ReferralStatus, RouteStatus, Service, Trigger
from schemas.events import ReferralRouted
from services.referral_intake.domain import consent, overrides, sla, timeline

# ---- consent ----------------------------------------------------------------------------


def test_consent_cannot_change_before_the_first_decision() -> None:
    assert consent.refusal("given", on_record="not_asked", routed=False) == (
        "The referral is still being routed; record the consent again in a moment."
    )


@pytest.mark.parametrize("on_record", ["given", "not_asked"])
def test_consent_given_or_not_yet_asked_can_be_withdrawn(on_record: str) -> None:
    assert consent.refusal("withdrawn", on_record=on_record, routed=True) is None


@pytest.mark.parametrize("on_record", ["refused", "withdrawn"])
def test_consent_never_given_cannot_be_withdrawn(on_record: str) -> None:
    refused = consent.refusal("withdrawn", on_record=on_record, routed=True)
    assert refused == "Consent can only be withdrawn after it was given (or not yet asked)."


@pytest.mark.parametrize("change", ["given", "refused"])
def test_the_same_consent_twice_is_refused(change: consent.ConsentChange) -> None:
    assert consent.refusal(change, on_record=change, routed=True) == (
        f"Consent is already recorded as {change}."
    )


def test_a_refusal_after_consent_was_given_is_recorded() -> None:
    assert consent.refusal("refused", on_record="given", routed=True) is None


def test_a_withdrawal_reads_as_a_refusal_to_the_router() -> None:
    assert consent.consent_fact("given") is ConsentStatus.GIVEN
    assert consent.consent_fact("refused") is ConsentStatus.REFUSED
    assert consent.consent_fact("withdrawn") is ConsentStatus.REFUSED


def test_each_consent_change_asks_for_its_own_reassessment() -> None:
    assert [consent.trigger(c) for c in ("given", "refused", "withdrawn")] == [
        Trigger.CONSENT_GIVEN,
        Trigger.CONSENT_REFUSED,
        Trigger.CONSENT_WITHDRAWN,
    ]
    assert consent.trigger("withdrawn") == "consent_withdrawn"  # the code on the bus


# ---- overrides --------------------------------------------------------------------------


def _override_refusal(
    action: overrides.OverrideAction,
    *,
    routed: bool = True,
    open_routes: int = 0,
    erased: bool = False,
) -> str | None:
    return overrides.refusal(
        action, Service.IDVA, routed=routed, open_routes=open_routes, erased=erased
    )


def test_a_route_is_added_only_where_none_is_open() -> None:
    assert _override_refusal("add") is None
    assert _override_refusal("add", open_routes=1) == (
        "There is already an open route to IDVA; remove it first."
    )


def test_only_an_open_route_can_be_removed() -> None:
    assert _override_refusal("remove", open_routes=1) is None
    assert _override_refusal("remove") == "There is no open route to IDVA to remove."


def test_no_override_before_routing_or_after_erasure() -> None:
    assert _override_refusal("add", routed=False) == (
        "The referral is still being routed; try the override again in a moment."
    )
    assert _override_refusal("add", erased=True) == (
        "This referral's personal data was erased; it can no longer change."
    )


def test_an_override_asks_for_its_own_reassessment_and_names_its_request() -> None:
    assert overrides.trigger("add") is Trigger.OVERRIDE_ADD
    assert overrides.trigger("remove") is Trigger.OVERRIDE_REMOVE
    assert overrides.requested_event("remove") == "override_remove_requested"


# ---- SLA clocks -------------------------------------------------------------------------


def test_only_the_first_acknowledgement_escalates_and_only_the_second_reroutes() -> None:
    assert [c.name for c in sla.SLA_CLOCKS if c.escalates] == ["acknowledge"]
    assert [c.name for c in sla.SLA_CLOCKS if c.reroutes] == ["second_acknowledge"]
    assert sla.ACKNOWLEDGE.timeline_event == "escalated"
    assert sla.CONTACT.timeline_event == "sla_breached"


def test_a_clock_stops_once_its_step_is_done() -> None:
    assert sla.ACKNOWLEDGE.runs_in(RouteStatus.RECEIVED.value)
    assert not sla.ACKNOWLEDGE.runs_in(RouteStatus.ACCEPTED.value)
    assert sla.CONTACT.runs_in(RouteStatus.ACCEPTED.value)
    assert not sla.CONTACT.runs_in(RouteStatus.IN_PROGRESS.value)
    assert not sla.CODE.runs_in(RouteStatus.RECEIVED.value)  # the provider has it


# ---- the decision's projection ----------------------------------------------------------


def _decision(trigger: Trigger, flags: list[str], status: ReferralStatus) -> ReferralRouted:
    return ReferralRouted(
        referral_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        decided_at=datetime.now(UTC),
        policy_version="2026-12-01.1",
        status=status,
        enhanced_rights=False,
        flags=flags,
        trigger=trigger,
    )


EARLIER = {"status": "routed", "flags": ["marac"], "policy_version": "2026-11-01.1"}


def test_a_route_level_decision_keeps_the_assessment_and_adds_its_flags() -> None:
    decision = _decision(Trigger.ROUTE_REJECTED, ["safeguarding", "marac"], ReferralStatus.ROUTED)
    assert timeline.keeps_earlier_flags(decision.trigger)
    assert timeline.stored_decision(decision, EARLIER) == {
        "status": "routed",
        "flags": ["marac", "safeguarding"],
        "policy_version": "2026-12-01.1",
    }


def test_a_resubmission_replaces_the_assessment_but_never_drops_a_flag() -> None:
    decision = _decision(Trigger.RESUBMITTED, [], ReferralStatus.ROUTED)
    stored = timeline.stored_decision(decision, EARLIER)
    assert stored["flags"] == ["marac"]
    assert stored["trigger"] == "resubmitted"


def test_a_full_reassessment_replaces_the_assessment() -> None:
    decision = _decision(Trigger.CONSENT_REFUSED, [], ReferralStatus.ROUTED)
    assert not timeline.keeps_earlier_flags(decision.trigger)
    assert timeline.stored_decision(decision, None)["flags"] == []


@pytest.mark.parametrize(
    ("trigger", "status", "event"),
    [
        (Trigger.RECEIVED, ReferralStatus.ROUTED, "routed"),
        (Trigger.RECEIVED, ReferralStatus.NO_SERVICE, "no_service"),
        (Trigger.CONSENT_GIVEN, ReferralStatus.NO_SERVICE, "reassessed"),
        (Trigger.SLA_REROUTE, ReferralStatus.ROUTED, "rerouted"),
        (Trigger.OVERRIDE_REMOVE, ReferralStatus.ROUTED, "override"),
    ],
)
def test_each_decision_names_its_timeline_entry(
    trigger: Trigger, status: ReferralStatus, event: str
) -> None:
    decision = _decision(trigger, [], status)
    assert timeline.decision_event(decision) == event
    assert timeline.decision_detail(decision)["trigger"] == trigger.value
