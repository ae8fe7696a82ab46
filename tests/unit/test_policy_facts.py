"""The clock-free facts the policy derives: DA risk bands, enhanced rights, the SARC
window measured from the report, and ages measured at the report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from schemas.events import AssessmentFacts, Dash, IncidentFacts, ReferralFacts, SubjectFacts
from services.router.adapters.policy_files import load_book
from services.router.domain.policy.facts import KNOWN_FACTS, policy_facts

POLICY = load_book().in_force(date(2026, 11, 21))
REPORTED = datetime(2026, 11, 16, 10, tzinfo=UTC)


def facts(**changes: Any) -> ReferralFacts:
    base: dict[str, Any] = {
        "referral_id": "00000000-0000-0000-0000-000000000001",
        "received_at": REPORTED + timedelta(days=3),
        "reported_at": REPORTED,
        "source": "police_officer",
        "local_authority": "shropshire",
        "subject": SubjectFacts(role="victim", age=30),
        "incident": IncidentFacts(crime_types=["domestic_abuse"]),
        "assessment": AssessmentFacts(needs=["safety_planning"]),
        "consent": "given",
    }
    return ReferralFacts(**{**base, **changes})


def da(
    yes: int | None = None, *, judgement: bool = False, incidents: int = 0, marac: bool = False
) -> ReferralFacts:
    dash = Dash(yes_count=yes, professional_judgement_high=judgement) if yes is not None else None
    return facts(
        assessment=AssessmentFacts(
            needs=["safety_planning"],
            dash=dash,
            da_incidents_last_12_months=incidents,
            previous_marac_within_12_months=marac,
        )
    )


@pytest.mark.parametrize(
    ("referral", "risk", "reason"),
    [
        (da(14), "high", "DASH 14 yes answers (14 or more is high risk)"),
        (da(13), "medium", "DASH 13 yes answers (10 to 13 is medium risk)"),
        (da(10), "medium", "DASH 10 yes answers"),
        (da(9), "standard", "DASH 9 yes answers (below 10 is standard risk)"),
        (da(), "standard", "no DASH assessment"),
        (da(4, judgement=True), "high", "professional judgement"),
        (da(4, incidents=3), "high", "3 domestic abuse incidents in the last 12 months"),
        (da(4, incidents=2), "standard", "DASH 4"),
        (da(4, marac=True), "high", "MARAC referral in the last 12 months (repeat)"),
    ],
)
def test_da_risk_bands(referral: ReferralFacts, risk: str, reason: str) -> None:
    result = POLICY.evaluate(policy_facts(referral))
    assert result["derived"]["da_risk"] == risk
    assert reason in result["derived"]["da_risk_reason"]


def test_high_risk_reason_reaches_the_route() -> None:
    (route,) = POLICY.decide(da(15)).routes
    assert route.reason == "DASH 15 yes answers (14 or more is high risk)"


def test_da_risk_is_only_reported_for_domestic_abuse() -> None:
    assert POLICY.decide(facts(incident=IncidentFacts(crime_types=["other"]))).da_risk is None


@pytest.mark.parametrize(
    ("changes", "enhanced"),
    [
        ({"incident": IncidentFacts(crime_types=["other"])}, False),
        ({"incident": IncidentFacts(crime_types=["hate_crime"])}, True),
        ({"incident": IncidentFacts(crime_types=["road_collision"])}, False),
        (
            {
                "incident": IncidentFacts(crime_types=["other"]),
                "subject": SubjectFacts(role="victim", age=17),
            },
            True,
        ),
        (
            {
                "incident": IncidentFacts(crime_types=["other"]),
                "subject": SubjectFacts(role="victim", age=40, intimidated=True),
            },
            True,
        ),
        (
            {
                "incident": IncidentFacts(crime_types=["other"]),
                "subject": SubjectFacts(
                    role="victim", age=40, vulnerabilities=["learning_disability"]
                ),
            },
            True,
        ),
    ],
)
def test_enhanced_rights(changes: dict[str, Any], enhanced: bool) -> None:
    assert POLICY.decide(facts(**changes)).enhanced_rights is enhanced


@pytest.mark.parametrize(("days_before_report", "urgent"), [(7, True), (6.9, True), (7.1, False)])
def test_sarc_window_is_measured_from_the_report_not_from_today(
    days_before_report: float, urgent: bool
) -> None:
    occurred = REPORTED - timedelta(days=days_before_report)
    decision = POLICY.decide(
        facts(incident=IncidentFacts(crime_types=["sexual_offence"], occurred_at=occurred))
    )
    assert ("sarc_urgent" in decision.flags) is urgent
    (isva,) = decision.routes
    assert (isva.priority.value == "urgent") is urgent


def test_without_a_report_time_the_sarc_window_runs_to_receipt() -> None:
    occurred = REPORTED - timedelta(days=2)  # received 3 days after REPORTED: 5 days in all
    decision = POLICY.decide(
        facts(
            reported_at=None,
            incident=IncidentFacts(crime_types=["sexual_offence"], occurred_at=occurred),
        )
    )
    assert "sarc_urgent" in decision.flags


def test_prepared_facts_name_exactly_the_known_facts() -> None:
    assert set(policy_facts(da(15))) == KNOWN_FACTS
