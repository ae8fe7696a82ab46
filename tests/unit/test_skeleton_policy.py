"""The casebook cases the walking skeleton's rules cover, run against the domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.router.domain.policy import decide
from tests.support.casebook import Case, load

COVERED = {"P01", "P02", "P03", "P04", "P11", "P13", "P14"}
CASES = [c for c in load() if c.id.split("-")[0] in COVERED]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_casebook(case: Case) -> None:
    facts = coded_facts(ReferralRequest.model_validate(case.body), uuid.uuid4(), datetime.now(UTC))
    decision = decide(facts)
    expect = case.expect
    assert decision.status.value == expect["status"]
    if "reason" in expect:
        assert decision.reason is not None
        assert decision.reason.value == expect["reason"]
    routes = {f"{r.service.value}/{r.sub_service}" for r in decision.routes}
    for wanted in expect.get("routes", []):
        assert any(r == wanted or r.startswith(wanted + "/") for r in routes), (wanted, routes)
    assert len(routes) == len(expect.get("routes", []))
    for flag in expect.get("flags_include", []):
        assert flag in decision.flags
    for flag in expect.get("flags_exclude", []):
        assert flag not in decision.flags
    if "enhanced_rights" in expect:
        assert decision.enhanced_rights is expect["enhanced_rights"]
    by_service = {r.service.value: r for r in decision.routes}
    for service, priority in expect.get("priority", {}).items():
        assert by_service[service].priority.value == priority
    for service, basis in expect.get("consent_basis", {}).items():
        assert by_service[service].consent_basis.value == basis
