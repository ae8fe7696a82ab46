"""A route's life at its provider: the transitions allowed and the sentences for the rest."""

from __future__ import annotations

import pytest

from schemas.codes import ContactResult, OutcomeStatus, RouteStatus
from services.provider_adapter.domain.work_item import (
    TransitionNotAllowed,
    on_acknowledged,
    on_contact_attempt,
    on_outcome,
    on_viewed,
)

S = RouteStatus


def test_the_happy_path() -> None:
    status = on_viewed(S.REQUESTED)
    assert status is S.RECEIVED
    status = on_acknowledged(status, accepted=True)
    assert status is S.ACCEPTED
    status = on_contact_attempt(status, ContactResult.NO_ANSWER)
    assert status is S.ACCEPTED
    status = on_contact_attempt(status, ContactResult.CONTACTED)
    assert status is S.IN_PROGRESS
    assert on_outcome(status, OutcomeStatus.COMPLETED) is S.COMPLETED


def test_viewing_again_changes_nothing() -> None:
    assert on_viewed(S.ACCEPTED) is S.ACCEPTED


def test_a_provider_may_accept_without_reading_first() -> None:
    assert on_acknowledged(S.REQUESTED, accepted=True) is S.ACCEPTED


def test_rejection() -> None:
    assert on_acknowledged(S.RECEIVED, accepted=False) is S.REJECTED


def test_unsafe_contact_puts_the_route_on_hold() -> None:
    assert on_contact_attempt(S.ACCEPTED, ContactResult.UNSAFE) is S.ON_HOLD


@pytest.mark.parametrize(
    ("call", "sentence"),
    [
        (lambda: on_contact_attempt(S.REQUESTED, ContactResult.CONTACTED), "Accept the referral"),
        (lambda: on_outcome(S.REJECTED, OutcomeStatus.COMPLETED), "already rejected"),
        (lambda: on_acknowledged(S.CANCELLED, accepted=True), "already cancelled"),
        (lambda: on_acknowledged(S.ACCEPTED, accepted=True), "already accepted"),
        (
            lambda: on_outcome(S.RECEIVED, OutcomeStatus.COMPLETED),
            "before recording a completed outcome",
        ),
        (lambda: on_outcome(S.COMPLETED, OutcomeStatus.FAILED), "already completed"),
    ],
)
def test_transitions_that_are_not_allowed_say_why(call: object, sentence: str) -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        call()  # type: ignore[operator]
    assert sentence in caught.value.sentence


def test_cancellation_is_possible_before_acceptance() -> None:
    assert on_outcome(S.RECEIVED, OutcomeStatus.CANCELLED) is S.CANCELLED
