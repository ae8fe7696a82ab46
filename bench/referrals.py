"""Synthetic referral requests for the load phases, in roughly the commissioner reports' mix
(most to VAL, then IDVA, ISVA, DIVERT, CLIMB). Every name, phone number and reference is
made up, and each request is a different person and crime, so that intake neither links it
to an earlier one as a duplicate nor flags a repeat victim."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

MIX = {
    "victim_with_needs": 13_230,
    "domestic_abuse_standard_or_medium": 2_335,
    "domestic_abuse_high_risk": 2_421,
    "sexual_offence": 1_622,
    "child_criminal_exploitation": 355,
    "drug_possession": 741,
}
AREAS = ["worcestershire", "herefordshire", "shropshire", "telford_and_wrekin"]
NEEDS = ["emotional_support", "practical_support", "safety_planning", "health", "housing"]


def referral(rng: random.Random, n: int, now: datetime | None = None) -> dict[str, Any]:
    """The ``n``-th request of a run (``n`` makes its person and crime unique)."""
    now = now or datetime.now(UTC)
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    reported = now - timedelta(hours=rng.uniform(0, 30))
    body: dict[str, Any] = {
        "source": "police_officer",
        "crime_reference": f"BN/{n:08d}/{rng.randint(10, 99)}",
        "crime_reported_at": reported.isoformat(),
        "local_authority": rng.choice(AREAS),
        "subject": {"role": "victim", "age": rng.randint(18, 75)},
        "contact": {
            "name": f"Bench Person {n:x}",
            "phone": f"07700 9{rng.randint(0, 99999):05d}",
            "safe_to_contact": True,
            "preferred_channel": "phone",
        },
        "incident": {
            "crime_types": [rng.choice(["other", "hate_crime", "serious_violence"])],
            "occurred_at": (reported - timedelta(days=rng.uniform(0, 20))).isoformat(),
        },
        "assessment": {"needs": rng.sample(NEEDS, k=rng.randint(1, 2))},
        "consent": {"status": "given"},
    }
    if kind == "domestic_abuse_standard_or_medium":
        body["incident"]["crime_types"] = ["domestic_abuse"]
        body["assessment"]["dash"] = {"yes_count": rng.randint(3, 13)}
    elif kind == "domestic_abuse_high_risk":
        body["incident"]["crime_types"] = ["domestic_abuse"]
        body["assessment"]["dash"] = {"yes_count": rng.randint(14, 22)}
    elif kind == "sexual_offence":
        body["incident"]["crime_types"] = ["sexual_offence"]
    elif kind == "child_criminal_exploitation":
        body["subject"] = {"role": "at_risk_child", "age": rng.randint(10, 17)}
        body["incident"]["crime_types"] = ["child_criminal_exploitation"]
        body["assessment"]["cce_indicators"] = ["county_lines", "older_associates"]
    elif kind == "drug_possession":
        body["subject"] = {"role": "suspect", "age": rng.randint(14, 45)}
        body["incident"]["crime_types"] = ["drug_possession"]
        body["incident"]["drug_possession"] = {
            "personal_use": True,
            "intent_to_supply_suspected": False,
            "previously_disengaged_from_diversion": False,
        }
        body["assessment"]["needs"] = ["none"]
        body["consent"]["status"] = "not_asked"
    return body
