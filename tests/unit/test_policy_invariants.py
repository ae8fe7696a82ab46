"""Invariants every policy version keeps, for any referral the intake form allows
(hypothesis). Version 2's own duties are in test_policy_version_2.py."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from schemas.codes import (
    ConsentBasis,
    ConsentStatus,
    CrimeType,
    Need,
    ReferralStatus,
    Role,
    Service,
)
from schemas.events import ReferralFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.policy.engine import CompiledPolicy
from tests.support.casebook import V1
from tests.support.strategies import facts, policy_property

BOOK = load_book()
VERSIONS = [BOOK.get(v.version) for v in BOOK.versions()]
every_version = policy_property(VERSIONS)
VICTIM_SERVICES = {Service.VAL, Service.IDVA, Service.ISVA}
EXPLICIT = {CrimeType.DOMESTIC_ABUSE, CrimeType.SEXUAL_OFFENCE, CrimeType.CHILD_SEXUAL_EXPLOITATION}
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _explicit_consent_crime(f: ReferralFacts) -> bool:
    return bool(EXPLICIT & set(f.incident.crime_types)) or f.subject.bereaved_relative


@every_version
def test_a_suspect_never_reaches_a_victim_service(policy: CompiledPolicy, f: ReferralFacts) -> None:
    decision = policy.decide(f)
    if f.subject.role is Role.SUSPECT:
        assert not {r.service for r in decision.routes + decision.held_routes} & VICTIM_SERVICES


@every_version
def test_explicit_consent_crime_reaches_a_provider_only_with_consent_or_safeguarding(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    decision = policy.decide(f)
    if not _explicit_consent_crime(f) or f.consent is ConsentStatus.GIVEN:
        return
    for route in decision.routes:
        if route.sub_service == "consent_contact":
            assert route.service is Service.VAL
            assert route.consent_basis is ConsentBasis.CONSENT_REQUEST
        elif route.service is Service.DIVERT:
            assert route.consent_basis is ConsentBasis.DIVERSION_OFFER
        else:
            assert route.consent_basis is ConsentBasis.SAFEGUARDING_OVERRIDE, route
            if f.subject.role is Role.SUSPECT:
                # A suspect's consent column always dispatches; for a child that is CLIMB,
                # whether screened from DIVERT or exploited in the incident itself.
                assert route.service is Service.CLIMB, route
                assert {"R-DIVERT-CCE-SCREEN", "R-CLIMB"} & set(route.rule_ids), route
            else:
                assert "R-IDVA-HIGH-RISK" in route.rule_ids


@every_version
def test_victim_with_a_need_and_consent_and_no_specialist_route_reaches_val(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    decision = policy.decide(f)
    specialist = {r.service for r in decision.routes + decision.held_routes} - {Service.VAL}
    has_need = bool(set(f.assessment.needs) - {Need.NONE})
    if (
        f.subject.role in (Role.VICTIM, Role.WITNESS)
        and has_need
        and f.consent is ConsentStatus.GIVEN
        and not specialist
    ):
        assert [r.service for r in decision.routes] == [Service.VAL]
        assert decision.status is ReferralStatus.ROUTED


@every_version
def test_the_same_facts_and_version_always_give_the_same_decision(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    assert policy.decide(f) == policy.decide(f)
    assert policy.decide(ReferralFacts.model_validate_json(f.model_dump_json())) == policy.decide(f)


@every_version
def test_every_decision_is_explained_and_consistent(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    decision = policy.decide(f)
    assert decision.policy_version == policy.id
    assert len({r.service for r in decision.routes}) == len(decision.routes)
    for route in decision.routes + decision.held_routes:
        assert route.rule_ids
        assert route.reason
    for route in decision.routes:
        assert route.consent_basis is not None
    if decision.status is ReferralStatus.NO_SERVICE:
        assert decision.reason is not None
        assert not decision.routes
    else:
        assert decision.reason is None
    if decision.status is ReferralStatus.AWAITING_CONSENT:
        assert decision.held_routes
    if f.assessment.threat_to_life:
        assert "emergency_escalation" in decision.flags
        assert all(r.priority.value == "urgent" for r in decision.routes)


@PROPERTY
@given(f=facts)
def test_version_1_refers_a_child_to_childrens_services_when_no_service_is_dispatched(
    f: ReferralFacts,
) -> None:
    """Version 1's rule, which version 2 replaced (the flag followed the child's refusal)."""
    decision = BOOK.get(V1).decide(f)
    child_without_service = f.subject.age < 18 and not [
        r for r in decision.routes if r.sub_service != "consent_contact"
    ]
    assert ("children_services_referral" in decision.flags) is child_without_service
