"""Version 2's statutory duties (routing-policy.md, "Version 2"), checked on generated
referrals (hypothesis) for every version from 2026-12-01 on, so that a later version cannot
quietly drop them: a child with a safeguarding fact is referred to children's social care
whatever the consent, a child without one is not, and refusing consent never takes a
statutory flag away. The safeguarding facts are written out here again, from the document,
not read from the graph."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.codes import (
    STATUTORY_FLAGS,
    CceIndicator,
    ConsentStatus,
    CrimeType,
    Role,
    Service,
)
from schemas.events import ReferralFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.decision import Decision
from services.router.domain.policy.engine import CompiledPolicy
from tests.support.strategies import children, policy_property

BOOK = load_book()
FROM_VERSION_2 = [
    BOOK.get(v.version) for v in BOOK.versions() if v.manifest.effective_from >= date(2026, 12, 1)
]
from_version_2 = policy_property(FROM_VERSION_2, examples=300)
from_version_2_children = policy_property(FROM_VERSION_2, children, examples=300)


def _params(policy: CompiledPolicy) -> dict[str, Any]:
    return dict(policy.version.manifest.parameters)


def _with_consent(f: ReferralFacts, consent: ConsentStatus) -> ReferralFacts:
    return f.model_copy(update={"consent": consent})


def _da_high(f: ReferralFacts, params: dict[str, Any]) -> bool:
    """DA risk as routing-policy.md defines it, with version 2's threat to life."""
    a = f.assessment
    return bool(
        (a.dash and (a.dash.yes_count or 0) >= params["dash_high_threshold"])
        or (a.dash and a.dash.professional_judgement_high)
        or a.da_incidents_last_12_months >= params["escalation_incidents"]
        or a.previous_marac_within_12_months
        or a.threat_to_life
    )


def _dispatched_services(decision: Decision) -> list[Any]:
    return [r for r in decision.routes if r.sub_service != "consent_contact"]


def _safeguarding_fact(f: ReferralFacts, decision: Decision, params: dict[str, Any]) -> bool:
    """R-CHILD-SAFEGUARDING's list, for a child."""
    crimes = set(f.incident.crime_types)
    return bool(
        crimes & {CrimeType.SEXUAL_OFFENCE, CrimeType.CHILD_SEXUAL_EXPLOITATION}
        or CrimeType.CHILD_CRIMINAL_EXPLOITATION in crimes
        or f.assessment.cce_indicators
        or CrimeType.MODERN_SLAVERY in crimes
        or (
            CrimeType.DOMESTIC_ABUSE in crimes
            and (_da_high(f, params) or f.subject.age < params["marac_min_age"])
        )
        or f.assessment.threat_to_life
        or crimes & {CrimeType.FORCED_MARRIAGE, CrimeType.HONOUR_BASED_ABUSE}
        or (f.subject.role is Role.SUSPECT and not _dispatched_services(decision))
    )


def _statutory(decision: Decision) -> set[str]:
    return set(decision.flags) & STATUTORY_FLAGS


@from_version_2_children
def test_a_child_with_a_safeguarding_fact_goes_to_childrens_services_whatever_the_consent(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    params = _params(policy)
    for consent in ConsentStatus:
        referral = _with_consent(f, consent)
        decision = policy.decide(referral)
        expected = _safeguarding_fact(referral, decision, params)
        assert ("children_services_referral" in decision.flags) is expected, (consent, decision)


@from_version_2
def test_refusing_consent_never_takes_a_statutory_flag_away(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    refused = _statutory(policy.decide(_with_consent(f, ConsentStatus.REFUSED)))
    for consent in (ConsentStatus.GIVEN, ConsentStatus.NOT_ASKED):
        assert _statutory(policy.decide(_with_consent(f, consent))) <= refused, consent


@from_version_2
def test_statutory_duties_for_adults_and_the_age_floors(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    params = _params(policy)
    decision = policy.decide(f)
    crimes = set(f.incident.crime_types)
    adult = f.subject.age >= 18
    assert ("duty_to_notify" in decision.flags) is (adult and CrimeType.MODERN_SLAVERY in crimes)
    abuse = crimes & {
        CrimeType.DOMESTIC_ABUSE,
        CrimeType.HONOUR_BASED_ABUSE,
        CrimeType.FORCED_MARRIAGE,
        CrimeType.SEXUAL_OFFENCE,
        CrimeType.CHILD_SEXUAL_EXPLOITATION,
        CrimeType.MODERN_SLAVERY,
    }
    assert ("adult_safeguarding_referral" in decision.flags) is bool(
        adult and f.subject.vulnerabilities and abuse
    )
    assert ("do_not_contact_family" in decision.flags) is bool(
        crimes & {CrimeType.HONOUR_BASED_ABUSE, CrimeType.FORCED_MARRIAGE}
    )
    if "marac_referral_required" in decision.flags:
        assert f.subject.age >= params["marac_min_age"]
    if any(r.service is Service.IDVA for r in decision.routes + decision.held_routes):
        assert f.subject.age >= params["idva_min_age"]
    if f.subject.age < 18 and (
        CceIndicator.COUNTY_LINES in f.assessment.cce_indicators
        or crimes & {CrimeType.CHILD_CRIMINAL_EXPLOITATION, CrimeType.MODERN_SLAVERY}
    ):
        assert "nrm_referral_required" in decision.flags


@from_version_2
def test_high_risk_domestic_abuse_at_marac_age_reaches_the_idva_and_marac_whatever_the_consent(
    policy: CompiledPolicy, f: ReferralFacts
) -> None:
    params = _params(policy)
    crimes = set(f.incident.crime_types)
    domestic_abuse = crimes & {
        CrimeType.DOMESTIC_ABUSE,
        CrimeType.HONOUR_BASED_ABUSE,
        CrimeType.FORCED_MARRIAGE,
    }
    if not (
        f.subject.role is Role.VICTIM
        and domestic_abuse
        and _da_high(f, params)
        and f.subject.age >= params["marac_min_age"]
    ):
        return
    for consent in ConsentStatus:
        decision = policy.decide(_with_consent(f, consent))
        assert "marac_referral_required" in decision.flags
        assert any(r.service is Service.IDVA for r in decision.routes), consent
