"""Synthetic referrals in the mix of the seed reports (reference/seeds-digest.md §9.6):
annual referrals VAL 15,564, IDVA 2,421, ISVA 1,622, CLIMB 355, DIVERT 741; RoadPeace 95 a
year, half of them bereaved, and 22 witnesses to fatal collisions (seed 002 line 961); young
people's IDVA 89 of the IDVA's 2,421 (seed 000 line 73). Where the seeds give no figure, the
share is an assumption, named as one below, so that every fact policy version 2 reads turns up
(children, consent refused or not yet asked, missing risk assessments, threats to life,
children in the household, vulnerable adults, stalking, honour-based abuse and forced
marriage, modern slavery, homicide, suspects with signs of exploitation). Every name, phone
number and address is made up: phone numbers are in Ofcom's drama range."""

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
    "road_bereaved_or_witness": 70,  # seed 002 line 961: about half of 95, plus 22 witnesses
    "honour_based_abuse_or_forced_marriage": 70,  # assumption: national figures per force
    "homicide_bereaved_or_witness": 30,  # assumption
    "modern_slavery_adult": 40,  # assumption (the MSHT advocate's low uptake, seed 000)
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
# Assumption: the crimes of victims VAL supports directly.
OTHER_CRIMES = {
    "other": 62,
    "hate_crime": 8,
    "serious_violence": 14,
    "road_collision": 6,
    "stalking": 10,
}
VULNERABILITIES = ["learning_disability", "mental_health", "dementia", "physical_disability"]
CONSENT = (["given", "not_asked", "refused"], [80, 15, 5])


def _chance(rng: random.Random, share: float) -> bool:
    return rng.random() < share


def _victim_age(rng: random.Random) -> int:
    """Assumption: one victim in eight is a child, one in fifty under ten."""
    roll = rng.random()
    if roll < 0.02:
        return rng.randint(4, 9)
    if roll < 0.125:
        return rng.randint(10, 17)
    return rng.randint(18, 85)


def _children_in_household(rng: random.Random) -> int:
    """Assumption (DASH question 10): children live in about half of DA households."""
    return rng.choice([0, 0, 0, 0, 0, 1, 1, 2, 2, 3])


OPENING_ROUND = (
    "sexual_offence",  # ISVA first: its work arrives by signed webhook
    "domestic_abuse_high_risk",  # IDVA
    "child_criminal_exploitation",  # CLIMB
    "drug_possession",  # DIVERT
    "victim_with_needs",  # VAL
)
"""The demo's first referrals, one for each provider service (with consent given where the
service needs it), so that even a one-minute run shows every provider at work, the signed
webhook to ISVA included; the mix of the seeds follows."""


def opening(rng: random.Random, now: datetime, n: int) -> tuple[str, dict[str, Any]]:
    """The ``n``-th referral of the opening round: certain to reach its service."""
    kind = OPENING_ROUND[n]
    _, body = referral(rng, now, kind)
    if kind != "drug_possession":
        body["consent"] = {"status": "given"}
    if kind == "sexual_offence":
        body["subject"]["age"] = max(body["subject"]["age"], 18)
    if kind == "child_criminal_exploitation":
        body["subject"]["age"] = max(body["subject"]["age"], 12)
    if kind == "drug_possession":
        body["subject"]["age"] = max(body["subject"]["age"], 18)
        body["incident"]["drug_possession"] = {
            "personal_use": True,
            "intent_to_supply_suspected": False,
            "previously_disengaged_from_diversion": False,
        }
        body["assessment"].pop("cce_indicators", None)
        body["subject"].pop("vulnerabilities", None)
    return kind, body


def referral(
    rng: random.Random, now: datetime, kind: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A synthetic referral of ``kind`` (default: drawn from the seeds' mix)."""
    kind = kind or rng.choices(list(MIX), weights=list(MIX.values()))[0]
    reported = now - timedelta(hours=rng.uniform(0, 30))
    body: dict[str, Any] = {
        "source": "police_officer",
        "crime_reference": f"DM/{rng.randint(10000, 99999)}/26",
        "crime_reported_at": reported.astimezone(UTC).isoformat(),
        "local_authority": rng.choices(AREAS, weights=AREA_WEIGHTS)[0],
        "subject": {"role": "victim", "age": _victim_age(rng)},
        "contact": {
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "phone": f"07700 900{rng.randint(0, 999):03d}",
            "email": f"demo{rng.randint(1, 99999)}@example.org",
            "safe_to_contact": True,
            "safe_contact_notes": rng.choice(["any time", "mornings only", "text first"]),
            "preferred_channel": rng.choice(["phone", "phone", "email", "sms"]),
        },
        "incident": {
            "crime_types": rng.choices(list(OTHER_CRIMES), weights=list(OTHER_CRIMES.values())),
            "occurred_at": (reported - timedelta(days=rng.uniform(0, 20))).isoformat(),
        },
        "assessment": {"needs": rng.sample(NEEDS, k=rng.randint(1, 3))},
        "consent": {"status": rng.choices(*CONSENT)[0]},
    }
    subject, incident, assessment = body["subject"], body["incident"], body["assessment"]
    if _chance(rng, 0.08):  # assumption: vulnerable adults and children
        subject["vulnerabilities"] = [rng.choice(VULNERABILITIES)]
    if kind in ("domestic_abuse_standard_or_medium", "domestic_abuse_high_risk"):
        subject["age"] = rng.randint(16, 17) if _chance(rng, 0.037) else rng.randint(18, 85)
        incident["crime_types"] = ["domestic_abuse"]
        assessment["children_in_household"] = _children_in_household(rng)
        high = kind == "domestic_abuse_high_risk"
        unassessed = not high and _chance(rng, 0.1)  # assumption: police DA without a DASH
        if not unassessed:
            assessment["dash"] = {"yes_count": rng.randint(14, 22) if high else rng.randint(3, 13)}
        if _chance(rng, 0.03):  # assumption: a threat to life recorded
            assessment["threat_to_life"] = True
        if high:
            assessment["hospital_setting"] = _chance(rng, 0.08)
            body["consent"]["status"] = rng.choices(["given", "refused"], weights=[90, 10])[0]
    elif kind == "sexual_offence":
        incident["crime_types"] = ["sexual_offence"]
        subject["age"] = rng.randint(14, 60)
        if _chance(rng, 0.3):  # assumption: reported within the SARC window
            incident["occurred_at"] = (reported - timedelta(days=rng.uniform(0, 7))).isoformat()
        body["consent"]["status"] = rng.choices(["given", "not_asked"], weights=[85, 15])[0]
    elif kind == "child_criminal_exploitation":
        body["subject"] = {"role": "at_risk_child", "age": rng.randint(10, 17)}
        incident["crime_types"] = ["child_criminal_exploitation"]
        assessment["cce_indicators"] = rng.sample(
            ["missing_episodes", "county_lines", "older_associates", "missing_education"], k=2
        )
        body["consent"]["status"] = rng.choices(*CONSENT)[0]
    elif kind == "drug_possession":
        body["subject"] = {"role": "suspect", "age": rng.randint(14, 45)}
        incident["crime_types"] = ["drug_possession"]
        incident["drug_possession"] = {
            "personal_use": True,
            "intent_to_supply_suspected": _chance(rng, 0.1),
            "previously_disengaged_from_diversion": _chance(rng, 0.05),
        }
        if _chance(rng, 0.15):  # assumption: signs of exploitation (county lines)
            assessment["cce_indicators"] = ["county_lines"]
        assessment["needs"] = ["none"]
        body["consent"]["status"] = rng.choices(["not_asked", "refused"], weights=[90, 10])[0]
    elif kind in ("road_bereaved_or_witness", "homicide_bereaved_or_witness"):
        road = kind == "road_bereaved_or_witness"
        incident["crime_types"] = ["road_collision" if road else "serious_violence"]
        incident["fatal" if road else "homicide"] = True
        if _chance(rng, 0.7):
            subject["bereaved_relative"] = True
        else:
            subject["role"] = "witness"
    elif kind == "honour_based_abuse_or_forced_marriage":
        subject["age"] = rng.randint(15, 35)
        incident["crime_types"] = [rng.choice(["honour_based_abuse", "forced_marriage"])]
        assessment["dash"] = (
            {"yes_count": None, "professional_judgement_high": True}
            if _chance(rng, 0.4)
            else {"yes_count": rng.randint(6, 20)}
        )
    elif kind == "modern_slavery_adult":
        subject["age"] = rng.randint(18, 50)
        incident["crime_types"] = ["modern_slavery"]
    return kind, body
