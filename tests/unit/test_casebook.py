"""The public routing casebook (tests/casebook/public.yaml) against the policy in force,
evaluated in process. The same cases run through the live stack's explain endpoint in
tests/e2e/test_explain.py."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime

import pytest

from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.router.adapters.policy_files import load_book
from tests.support.casebook import Case, check_expectations, load

CASES = load()
# `make casebook VERSION=...` runs the same cases against another version, e.g. a candidate.
_VERSION = os.environ.get("CASEBOOK_POLICY_VERSION")
POLICY = load_book().get(_VERSION) if _VERSION else load_book().in_force(date(2026, 11, 21))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_casebook(case: Case) -> None:
    facts = coded_facts(ReferralRequest.model_validate(case.body), uuid.uuid4(), datetime.now(UTC))
    decision = POLICY.decide(facts)
    answer = {
        "status": decision.status.value,
        "reason": decision.reason.value if decision.reason else None,
        "enhanced_rights": decision.enhanced_rights,
        "flags": list(decision.flags),
        "routes": [
            {
                "service": r.service.value,
                "sub_service": r.sub_service,
                "priority": r.priority.value,
                "consent_basis": r.consent_basis.value if r.consent_basis else None,
            }
            for r in decision.routes
        ],
        "held_routes": [
            {"service": r.service.value, "sub_service": r.sub_service} for r in decision.held_routes
        ],
    }
    check_expectations(answer, case.expect)
