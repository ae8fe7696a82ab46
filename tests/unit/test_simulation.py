"""What-if simulation: the same referrals under version 1 and the CLIMB pilot candidate."""

from __future__ import annotations

import json
import uuid

from schemas.events import AssessmentFacts, IncidentFacts, SubjectFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.simulation import SMALL_COUNT, Referral, commissioner_view, simulate
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


def test_commissioners_see_counts_only_with_small_counts_suppressed() -> None:
    """Issue 25, finding 5: the same simulation as a commissioner sees it."""
    children = [_child(age) for age in (8, 9, 12)]
    adults = [
        Referral(uuid.UUID(int=100 + i), facts(referral_id=uuid.UUID(int=100 + i)))
        for i in range(6)
    ]
    report = simulate([*children, *adults], BOOK.get("2026-11-01.1"), BOOK.get("2027-04-01.1"))
    view = commissioner_view(report)

    text = json.dumps(view)
    assert "referral_id" not in text
    assert "facts" not in text
    assert all(str(r.referral_id) not in text for r in [*children, *adults])
    assert view["referrals"] == 9
    # Two under-tens moved into CLIMB: a count of two could single them out.
    assert view["changed_count"] is None
    assert "changed_count" in view["suppressed"]
    assert view["services"]["CLIMB"]["routes_before"] is None
    assert view["services"]["CLIMB"]["change"] is None
    assert view["changes"] == [
        {
            "before": {"status": "no_service", "routes": []},
            "after": {"status": "routed", "routes": ["CLIMB/core"]},
            "referrals": None,
        }
    ]
    assert "changes.0.referrals" in view["suppressed"]
    # Zero and counts of five or more are shown as they are.
    assert view["services"]["DIVERT"]["routes_before"] == 0
    assert all(
        value is None or value == 0 or value >= SMALL_COUNT
        for figures in view["services"].values()
        for key, value in figures.items()
        if key != "change"
    )


def test_counts_of_five_or_more_are_not_suppressed() -> None:
    report = simulate(
        [_child(age) for age in (5, 6, 7, 8, 9)], BOOK.get("2026-11-01.1"), BOOK.get("2027-04-01.1")
    )
    view = commissioner_view(report)
    assert view["changed_count"] == 5
    assert view["changes"][0]["referrals"] == 5
    assert view["services"]["CLIMB"]["change"] == 5
