"""Statutory referrals: which flags ask staff to act, what a supervisor may record, which
flags reach which provider, and how the commissioner's report counts them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas import data_sharing
from schemas.codes import STATUTORY_FLAGS, Flag, Service
from services.referral_intake.domain.performance import statutory_figures
from services.referral_intake.domain.statutory import (
    made_at_problem,
    reference_problem,
    status_of,
    statutory,
)
from services.router.adapters.policy_files import POLICY_DIR, load_book
from services.router.domain.disclosure import work_item_flags

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_the_statutory_flags_are_those_that_ask_staff_to_refer() -> None:
    assert {
        "children_services_referral",
        "duty_to_notify",
        "adult_safeguarding_referral",
        "nrm_referral_required",
        "marac_referral_required",
        "risk_assessment_missing",
    } == STATUTORY_FLAGS
    assert statutory(["sarc_urgent", "duty_to_notify", "emergency_escalation"]) == [
        "duty_to_notify"
    ]


@pytest.mark.parametrize(
    "reference", ["MASH/2026/01234", "NRM-123456", "MS1.2026.77", "MARAC_2026_11_30", "CS9"]
)
def test_a_case_reference_is_accepted(reference: str) -> None:
    assert reference_problem(reference) is None


@pytest.mark.parametrize(
    "reference",
    [
        "Jane Smith",  # a name: spaces are refused
        "JaneSmith",  # no digit: not a reference
        "called mum 0770",  # a note
        "42",  # too short to be anyone's reference
        "/2026/01234",  # must start with a letter or digit
        "A" * 39 + "12",  # too long
        "MASH/2026/0123\n4",
    ],
)
def test_anything_but_a_case_reference_is_refused(reference: str) -> None:
    problem = reference_problem(reference)
    assert problem is not None
    assert reference not in problem


def test_a_referral_is_recorded_once_it_has_been_made() -> None:
    assert made_at_problem(NOW - timedelta(days=3), NOW) is None
    assert made_at_problem(NOW + timedelta(minutes=1), NOW) is None  # clocks disagree a little
    assert made_at_problem(NOW + timedelta(hours=1), NOW) == (
        "is in the future: record a referral once it has been made"
    )


def test_status_of_a_statutory_flag() -> None:
    assert status_of(None, None) == "outstanding"
    assert status_of(NOW, None) == "made"
    assert status_of(None, NOW) == "withdrawn"
    assert status_of(NOW, NOW) == "made"  # made before a later assessment withdrew it


def _flags_a_graph_can_raise(path: str) -> set[str]:
    graph = json.loads((POLICY_DIR / path).read_text())
    flags = next(n for n in graph["nodes"] if n["id"] == "flags")
    return {json.loads(rule["flag"]) for rule in flags["content"]["rules"]}


def test_every_flag_a_policy_raises_is_known_and_reaches_at_least_one_provider() -> None:
    known = {f.value for f in Flag}
    shared = {f for s in Service for f in data_sharing.work_item_flags(s)}
    for version in load_book().versions():
        raised = _flags_a_graph_can_raise(f"{version.version}/routing.jdm.json")
        assert raised <= known, version.version
        assert raised <= shared, version.version
    assert shared <= known


def test_do_not_contact_family_reaches_every_provider_that_may_contact_the_person() -> None:
    for service in Service:
        if data_sharing.contact_fields(service):
            assert "do_not_contact_family" in data_sharing.work_item_flags(service), service


def test_a_work_item_carries_only_the_flags_its_service_may_know() -> None:
    flags = (
        "marac_referral_required",
        "do_not_contact_family",
        "children_services_referral",
        "duty_to_notify",
    )
    assert work_item_flags(flags, Service.DIVERT) == ["do_not_contact_family"]
    assert work_item_flags(flags, Service.IDVA) == [
        "marac_referral_required",
        "do_not_contact_family",
        "children_services_referral",
    ]
    assert work_item_flags(flags, Service.VAL) == list(flags)


def test_the_report_counts_every_statutory_flag_raised_and_actioned() -> None:
    figures = statutory_figures(
        [
            {
                "flag": "marac_referral_required",
                "raised": 10,
                "actioned": 6,
                "outstanding": 3,
                "withdrawn": 1,
                "median_hours_to_action": 20.256,
            },
            {"flag": "duty_to_notify", "raised": 2, "actioned": 0, "outstanding": 2},
        ]
    )
    assert set(figures) == STATUTORY_FLAGS
    assert figures["marac_referral_required"] == {
        "raised": 10,
        "actioned": 6,
        "outstanding": 3,
        "withdrawn": 1,
        "actioned_rate": 0.6667,
        "median_hours_to_action": 20.26,
    }
    assert figures["duty_to_notify"]["actioned_rate"] == 0.0
    assert figures["duty_to_notify"]["median_hours_to_action"] is None
    assert figures["adult_safeguarding_referral"] == {
        "raised": 0,
        "actioned": 0,
        "outstanding": 0,
        "withdrawn": 0,
        "actioned_rate": None,
        "median_hours_to_action": None,
    }
