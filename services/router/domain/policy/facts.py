"""The facts the policy graph reads, prepared from a referral's coded facts.

Only shaping happens here (flattening, and the one piece of arithmetic the graph cannot do
on timestamps): every comparison with a threshold is in the graph. Time is measured against
the report time, or receipt when there is no report, so a decision can be reproduced.
"""

from __future__ import annotations

from typing import Any

from schemas.events import ReferralFacts

KNOWN_FACTS = frozenset(
    {
        "role",
        "age",
        "source",
        "local_authority",
        "crime_types",
        "needs",
        "vulnerabilities",
        "persistently_targeted",
        "intimidated",
        "bereaved_relative",
        "repeat_victim",
        "dash_completed",
        "dash_yes_count",
        "professional_judgement_high",
        "da_incidents_last_12_months",
        "previous_marac_within_12_months",
        "cce_indicators",
        "threat_to_life",
        "hospital_setting",
        "drug_possession_recorded",
        "drug_personal_use",
        "drug_intent_to_supply_suspected",
        "drug_previously_disengaged",
        "consent",
        "incident_date_known",
        "incident_days_before_report",
        "homicide",
        "fatal",
        "children_in_household",
    }
)
"""The names a policy may use after ``facts.``; anything else is refused at load."""

SECONDS_PER_DAY = 86_400


def policy_facts(facts: ReferralFacts) -> dict[str, Any]:
    subject, incident, assessment = facts.subject, facts.incident, facts.assessment
    dash, drugs = assessment.dash, incident.drug_possession
    measured_at = facts.reported_at or facts.received_at
    days_before_report = (
        (measured_at - incident.occurred_at).total_seconds() / SECONDS_PER_DAY
        if incident.occurred_at is not None
        else None
    )
    prepared: dict[str, Any] = {
        "role": subject.role.value,
        "age": subject.age,
        "source": facts.source.value,
        "local_authority": facts.local_authority.value,
        "crime_types": [c.value for c in incident.crime_types],
        "needs": [n.value for n in assessment.needs],
        "vulnerabilities": list(subject.vulnerabilities),
        "persistently_targeted": subject.persistently_targeted,
        "intimidated": subject.intimidated,
        "bereaved_relative": subject.bereaved_relative,
        "repeat_victim": subject.repeat_victim,
        "dash_completed": dash is not None,
        # Professional judgement may stand without a count; the graph compares numbers only.
        "dash_yes_count": (dash.yes_count or 0) if dash else 0,
        "professional_judgement_high": bool(dash and dash.professional_judgement_high),
        "da_incidents_last_12_months": assessment.da_incidents_last_12_months,
        "previous_marac_within_12_months": assessment.previous_marac_within_12_months,
        "cce_indicators": [c.value for c in assessment.cce_indicators],
        "threat_to_life": assessment.threat_to_life,
        "hospital_setting": assessment.hospital_setting,
        "drug_possession_recorded": drugs is not None,
        "drug_personal_use": bool(drugs and drugs.personal_use),
        "drug_intent_to_supply_suspected": bool(drugs and drugs.intent_to_supply_suspected),
        "drug_previously_disengaged": bool(drugs and drugs.previously_disengaged_from_diversion),
        "consent": facts.consent.value,
        "incident_date_known": days_before_report is not None,
        "incident_days_before_report": days_before_report,
        "homicide": incident.homicide,
        "fatal": incident.fatal,
        "children_in_household": assessment.children_in_household,
    }
    assert prepared.keys() == KNOWN_FACTS
    return prepared
