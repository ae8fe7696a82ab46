"""Minimum necessary data: which coded facts each provider's work items carry (DPA 2018
s.62; domain-anchors R6). A provider learns nothing else from the hub, and contact details
never travel in a work item at all."""

from __future__ import annotations

from typing import Any

from schemas.codes import Service
from schemas.events import ReferralFacts

ALLOWED_FACTS: dict[Service, tuple[str, ...]] = {
    Service.VAL: (
        "local_authority",
        "subject.role",
        "subject.age",
        "subject.vulnerabilities",
        "incident.crime_types",
        "assessment.needs",
        "consent",
        "contact.preferred_channel",
        "contact.safe_to_contact",
    ),
    Service.IDVA: (
        "local_authority",
        "subject.age",
        "incident.crime_types",
        "assessment.needs",
        "assessment.dash",
        "assessment.da_incidents_last_12_months",
        "assessment.previous_marac_within_12_months",
        "assessment.threat_to_life",
        "assessment.hospital_setting",
        "contact.preferred_channel",
        "contact.safe_to_contact",
    ),
    Service.ISVA: (
        "local_authority",
        "subject.age",
        "incident.crime_types",
        "incident.occurred_at",
        "assessment.needs",
        "contact.preferred_channel",
        "contact.safe_to_contact",
    ),
    Service.CLIMB: (
        "local_authority",
        "subject.age",
        "incident.crime_types",
        "assessment.cce_indicators",
        "assessment.needs",
        "contact.preferred_channel",
        "contact.safe_to_contact",
    ),
    # DIVERT works with the person found in possession; it learns nothing about any victim.
    Service.DIVERT: ("local_authority", "subject.age", "incident.drug_possession"),
}


def work_item_facts(facts: ReferralFacts, service: Service) -> dict[str, Any]:
    """The allowed facts, keyed by their dotted path."""
    flat = facts.model_dump(mode="json")
    chosen: dict[str, Any] = {}
    for path in ALLOWED_FACTS[service]:
        value: Any = flat
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        chosen[path] = value
    return chosen
