"""Synthetic referrals in the mix of the seed reports (reference/seeds-digest.md §9.6):
annual referrals VAL 15,564, IDVA 2,421, ISVA 1,622, CLIMB 355, DIVERT 741. Every name,
phone number and address is made up: phone numbers are in Ofcom's drama range."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

MIX = {
    "victim_with_needs": 15_564 * 0.85,
    "domestic_abuse_standard_or_medium": 15_564 * 0.15,
    "domestic_abuse_high_risk": 2_421,
    "sexual_offence": 1_622,
    "child_criminal_exploitation": 355,
    "drug_possession": 741,
}
FIRST = ["Alex", "Sam", "Jo", "Chris", "Pat", "Robin", "Jamie", "Morgan", "Casey", "Taylor"]
LAST = ["Demo", "Sample", "Example", "Testing", "Mock", "Placeholder"]
AREAS = ["worcestershire", "herefordshire", "shropshire", "telford_and_wrekin"]
AREA_WEIGHTS = [0.42, 0.14, 0.25, 0.19]
NEEDS = [
    "emotional_support",
    "practical_support",
    "safety_planning",
    "criminal_justice_advocacy",
    "health",
    "housing",
    "financial",
]
OTHER_CRIMES = ["other", "hate_crime", "serious_violence", "road_collision"]


def referral(rng: random.Random, now: datetime) -> tuple[str, dict[str, Any]]:
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    reported = now - timedelta(hours=rng.uniform(0, 30))
    body: dict[str, Any] = {
        "source": "police_officer",
        "crime_reference": f"DM/{rng.randint(10000, 99999)}/26",
        "crime_reported_at": reported.astimezone(UTC).isoformat(),
        "local_authority": rng.choices(AREAS, weights=AREA_WEIGHTS)[0],
        "subject": {"role": "victim", "age": rng.randint(18, 75)},
        "contact": {
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "phone": f"07700 900{rng.randint(0, 999):03d}",
            "email": f"demo{rng.randint(1, 99999)}@example.org",
            "safe_to_contact": True,
            "safe_contact_notes": rng.choice(["any time", "mornings only", "text first"]),
            "preferred_channel": rng.choice(["phone", "phone", "email", "sms"]),
        },
        "incident": {
            "crime_types": [rng.choice(OTHER_CRIMES)],
            "occurred_at": (reported - timedelta(days=rng.uniform(0, 20))).isoformat(),
        },
        "assessment": {"needs": rng.sample(NEEDS, k=rng.randint(1, 3))},
        "consent": {
            "status": rng.choices(["given", "not_asked", "refused"], weights=[80, 15, 5])[0]
        },
    }
    if kind == "domestic_abuse_standard_or_medium":
        body["incident"]["crime_types"] = ["domestic_abuse"]
        body["assessment"]["dash"] = {"yes_count": rng.randint(3, 13)}
    elif kind == "domestic_abuse_high_risk":
        body["incident"]["crime_types"] = ["domestic_abuse"]
        body["assessment"]["dash"] = {"yes_count": rng.randint(14, 22)}
        body["assessment"]["hospital_setting"] = rng.random() < 0.08
        body["consent"]["status"] = rng.choices(["given", "refused"], weights=[90, 10])[0]
    elif kind == "sexual_offence":
        body["incident"]["crime_types"] = ["sexual_offence"]
        body["subject"]["age"] = rng.randint(14, 60)
        body["consent"]["status"] = "given"
    elif kind == "child_criminal_exploitation":
        body["subject"] = {"role": "at_risk_child", "age": rng.randint(10, 17)}
        body["incident"]["crime_types"] = ["child_criminal_exploitation"]
        body["assessment"]["cce_indicators"] = rng.sample(
            ["missing_episodes", "county_lines", "older_associates", "missing_education"], k=2
        )
        body["consent"]["status"] = "given"
    elif kind == "drug_possession":
        body["subject"] = {"role": "suspect", "age": rng.randint(14, 45)}
        body["incident"]["crime_types"] = ["drug_possession"]
        body["incident"]["drug_possession"] = {
            "personal_use": True,
            "intent_to_supply_suspected": rng.random() < 0.1,
            "previously_disengaged_from_diversion": rng.random() < 0.05,
        }
        body["assessment"]["needs"] = ["none"]
        body["consent"]["status"] = "not_asked"
    return kind, body
