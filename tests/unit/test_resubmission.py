"""A second submission of an open referral: the combined picture (no fact of either is
lost) and the router's plan on it (routes only escalate), for the filed cases and for any
pair of submissions hypothesis makes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codes import (
    ConsentBasis,
    ConsentStatus,
    Need,
    Priority,
    ReferralStatus,
    RouteStatus,
    Service,
)
from schemas.events import OpenRoute, ReassessmentRequested, ReferralFacts
from services.referral_intake.domain import resubmission
from services.referral_intake.domain.resubmission import combine, consent_after, merge_personal
from services.router.adapters.policy_files import load_book
from services.router.domain.decision import Decision
from services.router.domain.reassessment import (
    NEEDS_CONSENT_ON_RECORD,
    PRIORITY_RANK,
    Plan,
    after_resubmission,
)
from tests.support.strategies import facts
from tests.unit.test_policy_facts import facts as make_facts

POLICY = load_book().in_force(date(2026, 11, 21))
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _da(yes_count: int, **assessment: Any) -> ReferralFacts:
    return make_facts(
        incident={"crime_types": ["domestic_abuse"]},
        assessment={"needs": ["safety_planning"], "dash": {"yes_count": yes_count}, **assessment},
        consent="given",
    )


def _as_open(decision: Decision) -> list[OpenRoute]:
    return [
        OpenRoute(
            route_id=uuid.uuid4(),
            service=c.service,
            sub_service=c.sub_service,
            priority=c.priority,
            status=RouteStatus.REQUESTED,
            consent_basis=c.consent_basis,
        )
        for c in decision.routes
    ]


def _resubmit(
    on_record: ReferralFacts, new: ReferralFacts, ended: list[OpenRoute] | None = None
) -> tuple[resubmission.Combined, list[OpenRoute], Plan]:
    first = _as_open(POLICY.decide(on_record))
    combined = combine(on_record, new)
    request = ReassessmentRequested(
        trigger="resubmitted",
        facts=combined.facts,
        open_routes=first,
        ended_routes=ended or [],
    )
    return combined, first, after_resubmission(request, POLICY.decide(combined.facts))


# ---- the filed cases ----------------------------------------------------------------------
def test_case_1_higher_risk_escalates_to_idva_urgent_with_marac_and_emergency() -> None:
    combined, first, plan = _resubmit(_da(10), _da(18, threat_to_life=True))
    assert [(r.service, r.priority) for r in first] == [(Service.VAL, Priority.HIGH)]
    assert combined.raised == ("assessment.dash.yes_count", "assessment.threat_to_life")
    assert [(c.service, c.sub_service, c.priority) for c in plan.dispatch] == [
        (Service.IDVA, "core", Priority.URGENT)
    ]
    assert plan.cancel == ((first[0], "superseded"),)
    assert {"marac_referral_required", "emergency_escalation"} <= set(plan.flags)
    # Exactly what the policy gives the second body alone.
    alone = POLICY.decide(_da(18, threat_to_life=True))
    assert {(c.service, c.sub_service, c.priority) for c in alone.routes} == {
        (c.service, c.sub_service, c.priority) for c in plan.dispatch
    }
    assert set(alone.flags) == set(plan.flags)


def test_a_lower_risk_resubmission_changes_nothing_and_says_what_was_kept() -> None:
    combined = combine(_da(18), _da(4))
    assert combined.facts == _da(18)
    assert combined.raised == ()
    assert combined.kept_from_record == ("assessment.dash.yes_count",)
    assert not combined.changed


def test_a_higher_priority_for_an_open_service_supersedes_its_route() -> None:
    # DA at medium risk in hospital: IDVA hidva at high priority; then high risk: urgent.
    _, first, plan = _resubmit(_da(11, hospital_setting=True), _da(16, hospital_setting=True))
    assert [(r.service, r.sub_service, r.priority) for r in first] == [
        (Service.IDVA, "hidva", Priority.HIGH)
    ]
    assert plan.cancel == ((first[0], "superseded"),)
    assert [(c.service, c.sub_service, c.priority) for c in plan.dispatch] == [
        (Service.IDVA, "hidva", Priority.URGENT)
    ]


def test_a_service_that_rejected_is_sent_the_referral_again_only_when_it_is_more_urgent() -> None:
    rejected_at_high = OpenRoute(
        route_id=uuid.uuid4(),
        service=Service.IDVA,
        sub_service="hidva",
        priority=Priority.HIGH,
        status=RouteStatus.REJECTED,
    )
    base = _da(11, hospital_setting=True)
    request = ReassessmentRequested(
        trigger="resubmitted", facts=base, open_routes=[], ended_routes=[rejected_at_high]
    )
    assert after_resubmission(request, POLICY.decide(base)).dispatch == ()
    higher = combine(base, _da(16, hospital_setting=True)).facts
    request = request.model_copy(update={"facts": higher})
    plan = after_resubmission(request, POLICY.decide(higher))
    assert [(c.service, c.priority) for c in plan.dispatch] == [(Service.IDVA, Priority.URGENT)]


def test_refused_after_given_is_a_withdrawal_and_keeps_the_safeguarding_route() -> None:
    refused = _da(18).model_copy(update={"consent": ConsentStatus.REFUSED})
    combined, first, plan = _resubmit(_da(18), refused)
    assert combined.consent_change == "withdrawn"
    assert combined.facts.consent is ConsentStatus.REFUSED
    # High-risk DA goes to the IDVA whatever the consent (safeguarding override): kept.
    assert plan.keep == (first[0].route_id,)
    assert plan.cancel == ()


def test_refused_after_given_ends_the_routes_that_needed_consent() -> None:
    given = make_facts(consent="given")
    refused = make_facts(consent="refused")
    _, first, plan = _resubmit(given, refused)
    assert [r.consent_basis for r in first] == [ConsentBasis.EXPLICIT_CONSENT]
    assert plan.cancel == ((first[0], "consent_withdrawn"),)
    assert plan.dispatch == ()


@pytest.mark.parametrize(
    ("on_record", "given_now", "change"),
    [
        ("given", "not_asked", None),
        ("refused", "not_asked", None),
        ("given", "given", None),
        ("not_asked", "given", "given"),
        ("refused", "given", "given"),
        ("given", "refused", "withdrawn"),
        ("not_asked", "refused", "refused"),
    ],
)
def test_consent_changes(on_record: str, given_now: str, change: str | None) -> None:
    assert consent_after(ConsentStatus(on_record), ConsentStatus(given_now)) == change


def test_a_suspect_screened_for_exploitation_leaves_diversion_for_climb() -> None:
    suspect = make_facts(
        subject={"role": "suspect", "age": 15},
        incident={
            "crime_types": ["drug_possession"],
            "drug_possession": {
                "personal_use": True,
                "intent_to_supply_suspected": False,
                "previously_disengaged_from_diversion": False,
            },
        },
        assessment={"needs": ["none"]},
    )
    exploited = make_facts(
        subject={"role": "suspect", "age": 15},
        incident=suspect.incident,
        assessment={"needs": ["none"], "cce_indicators": ["county_lines"]},
    )
    _, first, plan = _resubmit(suspect, exploited)
    assert [r.service for r in first] == [Service.DIVERT]
    assert [c.service for c in plan.dispatch] == [Service.CLIMB]
    assert plan.cancel == ((first[0], "superseded"),)


def test_needs_none_gives_way_to_an_identified_need() -> None:
    none = make_facts(assessment={"needs": ["none"]})
    housing = make_facts(assessment={"needs": ["housing"]})
    assert combine(none, housing).facts.assessment.needs == [Need.HOUSING]
    assert combine(housing, none).facts.assessment.needs == [Need.HOUSING]
    assert combine(none, none).facts.assessment.needs == [Need.NONE]


def test_a_fact_with_no_rule_is_refused_until_one_is_written() -> None:
    with pytest.raises(resubmission.UnknownFact, match=r"subject\.new_code"):
        resubmission._combine("subject.new_code", "a", "b")


def test_personal_data_is_merged_and_every_version_kept() -> None:
    first = {
        "contact": {
            "name": "Jo Qbright",
            "phone": "07700 900001",
            "email": "jo@example.org",
            "safe_to_contact": False,
            "safe_contact_notes": "never after 6pm",
        },
        "date_of_birth": "1990-01-01",
        "subject_name": None,
    }
    second = {
        "contact": {
            "name": "Jo Qbright",
            "phone": "07700 900002",
            "email": None,
            "safe_to_contact": True,
            "safe_contact_notes": "text only",
        },
        "date_of_birth": None,
        "subject_name": None,
    }
    at = datetime(2026, 11, 20, tzinfo=UTC)
    merged = merge_personal(first, second, version=2, at=at, by="local.triage")
    contact = merged["contact"]
    assert contact["phone"] == "07700 900002"  # the newest number
    assert contact["email"] == "jo@example.org"  # not given again: kept
    assert contact["safe_to_contact"] is False  # not safe stays not safe
    assert "never after 6pm" in contact["safe_contact_notes"]
    assert "text only" in contact["safe_contact_notes"]
    assert merged["date_of_birth"] == "1990-01-01"
    assert [h["version"] for h in merged["history"]] == [1, 2]
    assert merged["history"][0]["contact"]["phone"] == "07700 900001"
    third = merge_personal(merged, second, version=3, at=at, by="x")
    assert [h["version"] for h in third["history"]] == [1, 2, 3]
    assert third["contact"]["safe_contact_notes"].count("text only") == 1


# ---- any pair of submissions ---------------------------------------------------------------
@st.composite
def pairs(draw: st.DrawFn) -> tuple[ReferralFacts, ReferralFacts]:
    """Two submissions of one person in one role for one crime: the second's age is the
    first's (a date of birth gives one age on the day of the first report)."""
    first, second = draw(facts), draw(facts)
    second = second.model_copy(
        update={
            "subject": second.subject.model_copy(
                update={"role": first.subject.role, "age": first.subject.age}
            ),
            "reported_at": second.reported_at
            and second.reported_at + timedelta(hours=draw(st.integers(-48, 48))),
        }
    )
    return first, second


def _lost(new: ReferralFacts, combined: ReferralFacts) -> list[str]:
    """Facts of ``new`` that ``combined`` does not hold at least as strongly."""
    lost = []
    s, c = new.subject, combined.subject
    for flag in ("persistently_targeted", "intimidated", "bereaved_relative", "repeat_victim"):
        if getattr(s, flag) and not getattr(c, flag):
            lost.append(f"subject.{flag}")
    if not set(s.vulnerabilities) <= set(c.vulnerabilities):
        lost.append("subject.vulnerabilities")
    if c.age > s.age:
        lost.append("subject.age")
    i, ci = new.incident, combined.incident
    if not set(i.crime_types) <= set(ci.crime_types):
        lost.append("incident.crime_types")
    if i.occurred_at and (ci.occurred_at is None or ci.occurred_at < i.occurred_at):
        lost.append("incident.occurred_at")
    if i.drug_possession:
        d, cd = i.drug_possession, ci.drug_possession
        if (
            cd is None
            or (d.intent_to_supply_suspected and not cd.intent_to_supply_suspected)
            or (
                d.previously_disengaged_from_diversion
                and not cd.previously_disengaged_from_diversion
            )
        ):
            lost.append("incident.drug_possession")
    a, ca = new.assessment, combined.assessment
    if not (set(a.needs) - {Need.NONE}) <= set(ca.needs):
        lost.append("assessment.needs")
    if a.dash and (
        ca.dash is None
        or (
            a.dash.yes_count is not None
            and (ca.dash.yes_count is None or ca.dash.yes_count < a.dash.yes_count)
        )
        or (a.dash.professional_judgement_high and not ca.dash.professional_judgement_high)
    ):
        lost.append("assessment.dash")
    if ca.da_incidents_last_12_months < a.da_incidents_last_12_months:
        lost.append("assessment.da_incidents_last_12_months")
    for flag in ("previous_marac_within_12_months", "threat_to_life", "hospital_setting"):
        if getattr(a, flag) and not getattr(ca, flag):
            lost.append(f"assessment.{flag}")
    if not set(a.cce_indicators) <= set(ca.cce_indicators):
        lost.append("assessment.cce_indicators")
    if new.reported_at and combined.reported_at and combined.reported_at > new.reported_at:
        lost.append("reported_at")
    if new.contact.safe_to_contact is False and combined.contact.safe_to_contact is not False:
        lost.append("contact.safe_to_contact")
    return lost


@PROPERTY
@given(pairs())
def test_no_fact_of_either_submission_is_lost(pair: tuple[ReferralFacts, ReferralFacts]) -> None:
    first, second = pair
    combined = combine(first, second)
    assert _lost(second, combined.facts) == []
    assert _lost(first, combined.facts) == []
    # Consent: the latest answer stands; "not asked" never overrides one on record.
    expected = first.consent if second.consent is ConsentStatus.NOT_ASKED else second.consent
    assert combined.facts.consent is expected
    # Combining again with either changes nothing: the picture already holds both.
    assert combine(combined.facts, second).raised == ()
    again = combine(combined.facts, first.model_copy(update={"consent": expected})).raised
    assert set(again) <= {"local_authority", "contact.preferred_channel"}  # the newest stand


def _protects(
    route_service: Service,
    priority: Priority,
    after: list[tuple[Service, Priority]],
) -> bool:
    return any(s is route_service and PRIORITY_RANK[p] >= PRIORITY_RANK[priority] for s, p in after)


@PROPERTY
@given(pairs())
def test_a_decision_never_gets_less_protective_because_of_a_resubmission(
    pair: tuple[ReferralFacts, ReferralFacts],
) -> None:
    first, second = pair
    combined, open_before, plan = _resubmit(first, second)
    decided = POLICY.decide(combined.facts)
    kept = [r for r in open_before if r.route_id in plan.keep]
    after = [(r.service, r.priority) for r in kept] + [
        (c.service, c.priority) for c in plan.dispatch
    ]
    ended = dict(plan.cancel)
    refused = combined.facts.consent is ConsentStatus.REFUSED
    assert {r.route_id for r in open_before} == set(plan.keep) | {r.route_id for r in ended}

    # Every route the first decision opened is still open at the same or a higher priority,
    # or the policy sent another instead, or the person refused consent it relied on.
    for route in open_before:
        if route.route_id in plan.keep or _protects(route.service, route.priority, after):
            continue
        why = ended[route]
        if why == "consent_withdrawn":
            assert refused
            assert route.consent_basis in NEEDS_CONSENT_ON_RECORD
        elif route.service is Service.VAL and route.sub_service == "consent_contact":
            assert not decided.held_routes
        elif route.service is Service.VAL:
            assert any(
                s is not Service.VAL and PRIORITY_RANK[p] >= PRIORITY_RANK[route.priority]
                for s, p in after
            )
        else:
            assert route.service is Service.DIVERT
            assert Service.CLIMB in {s for s, _ in after} or any(
                h.service is Service.DIVERT for h in decided.held_routes
            )

    # And every route the second submission alone would open is open after, as urgent, or
    # is one the policy replaces in the combined picture, or needs a consent refused.
    for choice in POLICY.decide(second).routes:
        if _protects(choice.service, choice.priority, after):
            continue
        needs_consent = choice.consent_basis in NEEDS_CONSENT_ON_RECORD
        if refused and needs_consent:
            continue
        if choice.service in (Service.VAL, Service.DIVERT) and choice.service not in {
            c.service for c in decided.routes
        }:
            continue  # VAL and DIVERT give way to a specialist or a screen (see above)
        if choice.sub_service == "consent_contact" and combined.facts.consent is not (
            ConsentStatus.NOT_ASKED
        ):
            continue  # consent is known now: nothing to ask
        if combined.facts.consent is ConsentStatus.NOT_ASKED and choice.service in {
            h.service for h in decided.held_routes
        }:
            # The combined picture holds an explicit-consent crime (domestic abuse, a sexual
            # offence): the policy's consent gate holds the route, VAL asks, flags stand.
            assert any(c.sub_service == "consent_contact" for c in decided.routes) or any(
                r.sub_service == "consent_contact" for r in kept
            )
            continue
        raise AssertionError(f"{choice.service}/{choice.sub_service} lost")

    # Safeguarding flags never drop (intake keeps the earlier decision's flags too).
    flags_after = set(POLICY.decide(first).flags) | set(plan.flags)
    assert set(decided.flags) <= flags_after
    assert plan.status is not ReferralStatus.NO_SERVICE or not (kept or plan.dispatch)
