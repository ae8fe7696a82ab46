"""The needs-assessment policy of the walking skeleton: the VAL and high-risk IDVA rules
and the consent gate of routing-policy.md. Issue 3 replaces this module with the whole
policy kept as versioned decision tables."""

from __future__ import annotations

from schemas.codes import (
    ConsentBasis,
    ConsentStatus,
    CrimeType,
    Need,
    NoServiceReason,
    Priority,
    ReferralStatus,
    Role,
    Service,
)
from schemas.events import ReferralFacts
from services.router.domain.decision import Decision, RouteChoice

VERSION = "2026-11-01.0"

PARAMETERS = {
    "dash_high_threshold": 14,
    "dash_medium_threshold": 10,
    "escalation_incidents": 3,
    "idva_min_age": 13,
}

ENHANCED_RIGHTS_CRIMES = frozenset(
    {
        CrimeType.DOMESTIC_ABUSE,
        CrimeType.SEXUAL_OFFENCE,
        CrimeType.CHILD_SEXUAL_EXPLOITATION,
        CrimeType.CHILD_CRIMINAL_EXPLOITATION,
        CrimeType.HATE_CRIME,
        CrimeType.MODERN_SLAVERY,
        CrimeType.SERIOUS_VIOLENCE,
    }
)
EXPLICIT_CONSENT_CRIMES = frozenset(
    {CrimeType.DOMESTIC_ABUSE, CrimeType.SEXUAL_OFFENCE, CrimeType.CHILD_SEXUAL_EXPLOITATION}
)


def enhanced_rights(facts: ReferralFacts) -> bool:
    s = facts.subject
    return bool(
        ENHANCED_RIGHTS_CRIMES & set(facts.incident.crime_types)
        or s.persistently_targeted
        or s.intimidated
        or s.bereaved_relative
        or s.age < 18
        or s.vulnerabilities
    )


def da_risk(facts: ReferralFacts) -> tuple[str, str]:
    """The risk level and the sentence that explains it."""
    a = facts.assessment
    yes = a.dash.yes_count if a.dash else None
    if yes is not None and yes >= PARAMETERS["dash_high_threshold"]:
        return "high", f"DASH {yes} yes answers (14 or more is high risk)"
    if a.dash and a.dash.professional_judgement_high:
        return "high", "professional judgement: high risk"
    if a.da_incidents_last_12_months >= PARAMETERS["escalation_incidents"]:
        return "high", f"{a.da_incidents_last_12_months} DA incidents in 12 months (escalation)"
    if a.previous_marac_within_12_months:
        return "high", "MARAC referral in the last 12 months (repeat)"
    if yes is not None and yes >= PARAMETERS["dash_medium_threshold"]:
        return "medium", f"DASH {yes} yes answers (10 to 13 is medium risk)"
    return "standard", "below the medium-risk DASH threshold"


def decide(facts: ReferralFacts) -> Decision:
    s = facts.subject
    crimes = set(facts.incident.crime_types)
    enhanced = enhanced_rights(facts)
    is_da = CrimeType.DOMESTIC_ABUSE in crimes
    risk, risk_reason = da_risk(facts) if is_da else (None, "")
    flags: list[str] = []
    consent = facts.consent

    if s.role is Role.VICTIM and is_da and risk == "high" and s.age >= PARAMETERS["idva_min_age"]:
        sub = "ypidva" if s.age < 18 else "hidva" if facts.assessment.hospital_setting else "core"
        basis = (
            ConsentBasis.EXPLICIT_CONSENT
            if consent is ConsentStatus.GIVEN
            else ConsentBasis.SAFEGUARDING_OVERRIDE
        )
        idva = RouteChoice(
            Service.IDVA, sub, Priority.URGENT, ("R-IDVA-HIGH-RISK",), risk_reason, basis
        )
        return Decision(
            VERSION,
            ReferralStatus.ROUTED,
            None,
            enhanced,
            risk,
            ("marac_referral_required",),
            (idva,),
        )

    if s.role not in (Role.VICTIM, Role.WITNESS):
        return Decision(
            VERSION, ReferralStatus.NO_SERVICE, NoServiceReason.NOT_ELIGIBLE, enhanced, risk
        )
    needs = set(facts.assessment.needs) - {Need.NONE}
    if not needs and not enhanced:
        return Decision(
            VERSION, ReferralStatus.NO_SERVICE, NoServiceReason.NO_IDENTIFIED_NEED, enhanced, risk
        )
    reason = (
        f"identified needs: {', '.join(sorted(n.value for n in needs))}"
        if needs
        else "enhanced rights under the Victims' Code"
    )
    priority = Priority.HIGH if enhanced else Priority.STANDARD
    explicit = bool(EXPLICIT_CONSENT_CRIMES & crimes) or s.bereaved_relative
    if consent is ConsentStatus.REFUSED:
        return Decision(
            VERSION,
            ReferralStatus.NO_SERVICE,
            NoServiceReason.CONSENT_REFUSED,
            enhanced,
            risk,
            tuple(flags),
        )
    if consent is ConsentStatus.NOT_ASKED and explicit:
        held = RouteChoice(
            Service.VAL, "core", priority, ("R-VAL",), reason, ConsentBasis.EXPLICIT_CONSENT
        )
        ask = RouteChoice(
            Service.VAL,
            "consent_contact",
            priority,
            ("R-VAL",),
            "explicit consent is needed before referral",
            ConsentBasis.NOT_REQUIRED,
        )
        return Decision(
            VERSION,
            ReferralStatus.AWAITING_CONSENT,
            None,
            enhanced,
            risk,
            tuple(flags),
            (ask,),
            (held,),
        )
    basis = (
        ConsentBasis.EXPLICIT_CONSENT
        if consent is ConsentStatus.GIVEN
        else ConsentBasis.OPT_OUT_NOT_EXERCISED
    )
    val = RouteChoice(Service.VAL, "core", priority, ("R-VAL",), reason, basis)
    return Decision(VERSION, ReferralStatus.ROUTED, None, enhanced, risk, tuple(flags), (val,))
