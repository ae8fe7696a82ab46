"""What-if simulation: the same referrals under two versions (version 2 and the CLIMB pilot
candidate built on it; version 1 and version 2), compared by service, status and rule."""

from __future__ import annotations

import json
import uuid

from schemas.events import AssessmentFacts, IncidentFacts, SubjectFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.simulation import SMALL_COUNT, Referral, commissioner_view, simulate
from services.router.entrypoints.cli import render
from tests.unit.test_policy_facts import facts

BOOK = load_book()
PILOT_BASE = "2026-12-01.1"
"""The version the CLIMB pilot (2027-04-01.1) changes."""


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
        [eight, nine, twelve, adult], BOOK.get("2026-12-01.1"), BOOK.get("2027-04-01.1")
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
        "flags": ["nrm_referral_required", "children_services_referral"],
        "priorities": {"CLIMB/core": "high"},
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
    assert report["rules"]["R-CLIMB"] == {
        "fired_before": 1,
        "fired_after": 3,
        "decisions_changed": 2,
    }
    assert report["rules"]["R-CHILD-SAFEGUARDING"]["decisions_changed"] == 0
    assert report["changed_with_the_same_rules"] == 0


def _referral(**changes: object) -> Referral:
    referral_id = uuid.uuid4()
    return Referral(referral_id, facts(referral_id=referral_id, **changes))


def test_version_2_against_version_1_puts_each_changed_decision_down_to_its_rules() -> None:
    refused_burglary_16 = _referral(
        subject=SubjectFacts(role="victim", age=16),
        incident=IncidentFacts(crime_types=["other"]),
        consent="refused",
    )
    exploited_14 = _referral(
        subject=SubjectFacts(role="victim", age=14),
        incident=IncidentFacts(crime_types=["child_sexual_exploitation"]),
    )
    trafficked_adult = _referral(incident=IncidentFacts(crime_types=["modern_slavery"]))
    burglary_adult = _referral(incident=IncidentFacts(crime_types=["other"]))

    report = simulate(
        [refused_burglary_16, exploited_14, trafficked_adult, burglary_adult],
        BOOK.get("2026-11-01.1"),
        BOOK.get("2026-12-01.1"),
    )

    assert report["changed_count"] == 3
    changed = {c["referral_id"] for c in report["changed"]}
    assert str(burglary_adult.referral_id) not in changed
    child = report["rules"]["R-CHILD-SAFEGUARDING"]
    # Raised for the exploited child, no longer for the child who only declined VAL.
    assert child == {"fired_before": 1, "fired_after": 1, "decisions_changed": 2}
    assert report["rules"]["R-DUTY-TO-NOTIFY"] == {
        "fired_before": 0,
        "fired_after": 1,
        "decisions_changed": 1,
    }
    assert report["rules"]["R-ISVA"]["decisions_changed"] == 0  # fired under both
    assert next(iter(report["rules"])) == "R-CHILD-SAFEGUARDING"  # most changes first


def test_the_printed_report_shows_the_rules_and_what_the_routes_do_not() -> None:
    exploited_14 = _referral(
        subject=SubjectFacts(role="victim", age=14),
        incident=IncidentFacts(crime_types=["child_sexual_exploitation"]),
    )
    rape_not_asked = _referral(
        incident=IncidentFacts(crime_types=["sexual_offence"], occurred_at=facts().reported_at),
        consent="not_asked",
    )
    report = simulate(
        [exploited_14, rape_not_asked], BOOK.get("2026-11-01.1"), BOOK.get("2026-12-01.1")
    )
    report.update({"from": "2026-09-01", "to": "2026-11-30"})

    printed = render(report)

    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines() if line[:2] == "R-"}
    assert rows["R-CHILD-SAFEGUARDING"] == ["0", "1", "1"]
    assert rows["R-CONSENT-CONTACT-PRIORITY"] == ["0", "1", "1"]
    assert "R-ISVA" not in rows  # fired under both, changed nothing
    assert f"{exploited_14.referral_id}  age 14" in printed
    assert "+children_services_referral" in printed
    assert "VAL/consent_contact high->urgent" in printed


def test_commissioners_see_counts_only_with_small_counts_suppressed() -> None:
    """Issue 25, finding 5: the same simulation as a commissioner sees it."""
    children = [_child(age) for age in (8, 9, 12)]
    adults = [
        Referral(uuid.UUID(int=100 + i), facts(referral_id=uuid.UUID(int=100 + i)))
        for i in range(6)
    ]
    # Against the version the CLIMB pilot is built on (version 2, since it came in), so that
    # only the pilot's change shows.
    report = simulate([*children, *adults], BOOK.get(PILOT_BASE), BOOK.get("2027-04-01.1"))
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
        [_child(age) for age in (5, 6, 7, 8, 9)], BOOK.get(PILOT_BASE), BOOK.get("2027-04-01.1")
    )
    view = commissioner_view(report)
    assert view["changed_count"] == 5
    assert view["changes"][0]["referrals"] == 5
    assert view["services"]["CLIMB"]["change"] == 5


def test_commissioners_see_each_rules_counts_with_small_ones_suppressed() -> None:
    """The per-rule figures (fired before and after, decisions changed) are counts too: a
    commissioner sees them, each small one suppressed, in an order that ranks nothing."""
    children = [_child(age) for age in (5, 6, 7, 8, 9, 12)]
    view = commissioner_view(simulate(children, BOOK.get(PILOT_BASE), BOOK.get("2027-04-01.1")))
    # The twelve-year-old was in CLIMB already: a count of one could single them out.
    assert view["rules"]["R-CLIMB"] == {
        "fired_before": None,
        "fired_after": 6,
        "decisions_changed": 5,
    }
    assert "rules.R-CLIMB.fired_before" in view["suppressed"]
    assert view["rules"]["R-NOT-ELIGIBLE"] == {
        "fired_before": 5,
        "fired_after": 0,
        "decisions_changed": 5,
    }
    assert list(view["rules"]) == sorted(view["rules"])
