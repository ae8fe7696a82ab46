"""Every transition of a route at its provider, allowed and forbidden, from one table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from schemas.codes import ContactResult, OutcomeStatus, RouteStatus
from services.provider_adapter.domain.work_item import (
    TransitionNotAllowed,
    on_acknowledged,
    on_cancelled,
    on_contact_attempt,
    on_escalated,
    on_outcome,
    on_viewed,
)

S = RouteStatus
STEPS: dict[str, Callable[[RouteStatus], RouteStatus]] = {
    "view": on_viewed,
    "accept": lambda s: on_acknowledged(s, accepted=True),
    "reject": lambda s: on_acknowledged(s, accepted=False),
    "contacted": lambda s: on_contact_attempt(s, ContactResult.CONTACTED),
    "no_answer": lambda s: on_contact_attempt(s, ContactResult.NO_ANSWER),
    "unsafe": lambda s: on_contact_attempt(s, ContactResult.UNSAFE),
    "complete": lambda s: on_outcome(s, OutcomeStatus.COMPLETED),
    "fail": lambda s: on_outcome(s, OutcomeStatus.FAILED),
    "cancel_outcome": lambda s: on_outcome(s, OutcomeStatus.CANCELLED),
    "hub_cancel": on_cancelled,
    "escalate": on_escalated,
}
X = None  # not allowed: 409 with a sentence
# status before -> what each step leads to (None: refused)
EXPECTED: dict[RouteStatus, dict[str, RouteStatus | None]] = {
    # Awaiting the provider's decision: viewing a new one marks it received.
    **{
        awaiting: {
            "view": S.RECEIVED if awaiting is S.REQUESTED else awaiting,
            "accept": S.ACCEPTED,
            "reject": S.REJECTED,
            "contacted": X,
            "no_answer": X,
            "unsafe": X,
            "complete": X,
            "fail": X,
            "cancel_outcome": S.CANCELLED,
            "hub_cancel": S.CANCELLED,
            "escalate": S.ESCALATED,
        }
        for awaiting in (S.REQUESTED, S.RECEIVED, S.ESCALATED)
    },
    # Accepted and being worked: a failed attempt or an escalation leaves the status as it is.
    **{
        working: {
            "view": working,
            "accept": X,
            "reject": X,
            "contacted": S.IN_PROGRESS,
            "no_answer": working,
            "unsafe": S.ON_HOLD,
            "complete": S.COMPLETED,
            "fail": S.FAILED,
            "cancel_outcome": S.CANCELLED,
            "hub_cancel": S.CANCELLED,
            "escalate": working,
        }
        for working in (S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD)
    },
    **{
        ended: {
            "view": ended,
            "accept": X,
            "reject": X,
            "contacted": X,
            "no_answer": X,
            "unsafe": X,
            "complete": X,
            "fail": X,
            "cancel_outcome": X,
            "hub_cancel": ended,
            "escalate": ended,
        }
        for ended in (S.COMPLETED, S.CLOSED, S.REJECTED, S.CANCELLED, S.FAILED)
    },
}
CASES = [
    (before, step, after) for before, steps in EXPECTED.items() for step, after in steps.items()
]


def test_the_table_covers_every_status_and_step() -> None:
    assert set(EXPECTED) == set(RouteStatus)
    assert all(set(steps) == set(STEPS) for steps in EXPECTED.values())


@pytest.mark.parametrize(
    ("before", "step", "after"), CASES, ids=[f"{b.value}-{s}" for b, s, _ in CASES]
)
def test_transition(before: RouteStatus, step: str, after: RouteStatus | None) -> None:
    if after is None:
        with pytest.raises(TransitionNotAllowed) as refused:
            STEPS[step](before)
        assert refused.value.sentence.endswith(".")
        assert len(refused.value.sentence) > 20
    else:
        assert STEPS[step](before) is after


def test_a_route_cannot_complete_without_an_outcome() -> None:
    """Completion is reachable only through on_outcome: no other step leads there."""
    for before in RouteStatus:
        for step, apply in STEPS.items():
            if step == "complete" or before is S.COMPLETED:
                continue
            with contextlib.suppress(TransitionNotAllowed):
                assert apply(before) is not S.COMPLETED, (before, step)
