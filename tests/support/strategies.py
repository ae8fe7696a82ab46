"""Hypothesis strategies for referral facts: every combination the intake form allows."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codes import CceIndicator, ConsentStatus, CrimeType, LocalAuthority, Need, Role, Source
from schemas.events import (
    AssessmentFacts,
    ContactFacts,
    Dash,
    DrugPossession,
    IncidentFacts,
    ReferralFacts,
    SubjectFacts,
)

REPORTED = datetime(2026, 11, 16, 10, tzinfo=UTC)


def _subset(values: type[StrEnum]) -> st.SearchStrategy[list[StrEnum]]:
    return st.lists(st.sampled_from(list(values)), unique=True, max_size=3)


def subjects(ages: st.SearchStrategy[int]) -> st.SearchStrategy[SubjectFacts]:
    return st.builds(
        SubjectFacts,
        role=st.sampled_from(list(Role)),
        age=ages,
        vulnerabilities=st.lists(
            st.sampled_from(["learning_disability", "mental_health", "dementia"]),
            unique=True,
            max_size=1,
        ),
        persistently_targeted=st.booleans(),
        intimidated=st.booleans(),
        bereaved_relative=st.booleans(),
    )


incidents = st.builds(
    IncidentFacts,
    crime_types=st.lists(st.sampled_from(list(CrimeType)), unique=True, min_size=1, max_size=3),
    occurred_at=st.one_of(
        st.none(), st.integers(0, 400).map(lambda d: REPORTED - timedelta(days=d, hours=3))
    ),
    drug_possession=st.one_of(
        st.none(),
        st.builds(
            DrugPossession,
            personal_use=st.booleans(),
            intent_to_supply_suspected=st.booleans(),
            previously_disengaged_from_diversion=st.booleans(),
        ),
    ),
    homicide=st.booleans(),
    fatal=st.booleans(),
)

assessments = st.builds(
    AssessmentFacts,
    needs=st.one_of(
        st.just([Need.NONE]),
        st.lists(st.sampled_from(list(Need)), unique=True, min_size=1, max_size=3),
    ),
    dash=st.one_of(
        st.none(),
        st.builds(Dash, yes_count=st.integers(0, 27), professional_judgement_high=st.booleans()),
        # Professional judgement without a count (policy version 2's contract).
        st.just(Dash(yes_count=None, professional_judgement_high=True)),
    ),
    da_incidents_last_12_months=st.integers(0, 6),
    previous_marac_within_12_months=st.booleans(),
    cce_indicators=_subset(CceIndicator),
    threat_to_life=st.booleans(),
    hospital_setting=st.booleans(),
    children_in_household=st.integers(0, 4),
)


def referral_facts(ages: st.SearchStrategy[int]) -> st.SearchStrategy[ReferralFacts]:
    return st.builds(
        ReferralFacts,
        referral_id=st.just(uuid.UUID(int=1)),
        received_at=st.just(REPORTED + timedelta(hours=1)),
        reported_at=st.one_of(st.none(), st.just(REPORTED)),
        source=st.sampled_from(list(Source)),
        local_authority=st.sampled_from(list(LocalAuthority)),
        subject=subjects(ages),
        incident=incidents,
        assessment=assessments,
        consent=st.sampled_from(list(ConsentStatus)),
        contact=st.just(ContactFacts()),
    )


facts = referral_facts(st.integers(min_value=0, max_value=95))
"""Any referral's coded facts."""
children = referral_facts(st.integers(min_value=0, max_value=17))
"""Any referral of a child (under 18)."""


def policy_property(
    policies: Sequence[Any],
    referrals: st.SearchStrategy[ReferralFacts] = facts,
    examples: int = 200,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A property of routing policies: the test, taking ``policy`` (a ``CompiledPolicy``)
    and ``f`` (``ReferralFacts``), runs under each of ``policies`` on ``examples`` referrals
    drawn from ``referrals``. No deadline: a first decision compiles the version's graph."""
    checked = settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    each = pytest.mark.parametrize("policy", policies, ids=[p.id for p in policies])

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        decorated: Callable[..., None] = each(checked(given(f=referrals)(test)))
        return decorated

    return decorate
