"""What-if simulation: the same referrals under version 1 and the CLIMB pilot candidate."""

from __future__ import annotations

import uuid

from schemas.events import AssessmentFacts, IncidentFacts, SubjectFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.simulation import Referral, simulate
from tests.unit.test_policy_facts import facts

BOOK = load_book()


def _child(age: int) -> Referral:
    referral_id = uuid.uuid4()
    return Referral(
        referral_id,
        facts(
            referral_id=referral_id,
            subject=SubjectFacts(role="at_risk_child", age=age),
            incident=IncidentFacts(crime_types=["child_criminal_exploitation"]),
            assessment=AssessmentFacts(needs=["none"], cce_indicators=["county_lines"]),
        ),
    )


def test_lowering_climbs_minimum_age_moves_under_tens_into_climb_and_nothing_else() -> None:
    eight, nine, twelve = _child(8), _child(9), _child(12)
    adult = Referral(uuid.UUID(int=7), facts(referral_id=uuid.UUID(int=7)))
    report = simulate(
        [eight, nine, twelve, adult], BOOK.get("2026-11-01.1"), BOOK.get("2027-04-01.1")
    )

    assert report["referrals"] == 4
    assert report["services"]["CLIMB"] == {
        "routes_before": 1,
        "routes_after": 3,
        "change": 2,
        "held_before": 0,
        "held_after": 0,
    }
    assert report["services"]["IDVA"]["change"] == 0
    assert report["changed_count"] == 2
    changed = {c["referral_id"]: c for c in report["changed"]}
    assert set(changed) == {str(eight.referral_id), str(nine.referral_id)}
    before, after = (
        changed[str(eight.referral_id)]["before"],
        changed[str(eight.referral_id)]["after"],
    )
    assert before["status"] == "no_service"
    assert "children_services_referral" in before["flags"]
    assert after == {
        "status": "routed",
        "reason": None,
        "routes": ["CLIMB/core"],
        "held_routes": [],
        "flags": ["nrm_referral_required"],
    }
    assert changed[str(eight.referral_id)]["facts"]["subject"] == {
        "role": "at_risk_child",
        "age": 8,
        "vulnerabilities": [],
        "persistently_targeted": False,
        "intimidated": False,
        "bereaved_relative": False,
        "repeat_victim": False,
    }
    assert report["statuses"]["no_service"] == {"before": 2, "after": 0}
