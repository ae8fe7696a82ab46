"""The public routing casebooks (tests/casebook: version 1's cases under versions 1 and 2,
version 2's under the version it names), evaluated in process. The same cases run through the
live stack's explain endpoint in tests/e2e/test_policy_through_the_stack.py."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest

from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.router.adapters.policy_files import load_book
from services.router.domain.explanation import explain
from tests.support.casebook import Case, check_expectations, run_id, runs

BOOK = load_book()
# `make casebook VERSION=...` runs every case against one version instead, e.g. a candidate.
RUNS = runs(os.environ.get("CASEBOOK_POLICY_VERSION") or None)


@pytest.mark.parametrize("run", RUNS, ids=[run_id(r) for r in RUNS])
def test_casebook(run: tuple[str, Case]) -> None:
    version, case = run
    facts = coded_facts(ReferralRequest.model_validate(case.body), uuid.uuid4(), datetime.now(UTC))
    answer = explain(BOOK.get(version).decide(facts))
    assert answer["policy_version"] == version
    check_expectations(answer, case.expect)
