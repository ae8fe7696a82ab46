"""A work item's clocks as the portal shows them: running, met or stopped by the route's
status, and said in words a caseworker reads at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codes import TERMINAL_ROUTE_STATUSES, RouteStatus
from services.provider_adapter.domain.clocks import (
    ClockState,
    acknowledgement_clock,
    contact_clock,
    describe,
    in_words,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=45), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=20, seconds=59), "20 minutes"),
        (timedelta(hours=3, minutes=20), "3 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(days=1, hours=5), "1 day 5 hours"),
        (timedelta(days=2), "2 days"),
        (timedelta(days=4, hours=2), "4 days"),
    ],
)
def test_durations_in_words(delta: timedelta, words: str) -> None:
    assert in_words(delta) == words
    assert in_words(-delta) == words


def test_due_and_overdue() -> None:
    due_later = acknowledgement_clock(RouteStatus.RECEIVED, NOW + timedelta(hours=3), NOW)
    assert describe(due_later) == "due in 3 hours"
    assert not due_later.breached
    overdue = acknowledgement_clock(RouteStatus.RECEIVED, NOW - timedelta(minutes=20), NOW)
    assert describe(overdue) == "overdue by 20 minutes"
    assert overdue.breached


def test_acknowledging_meets_the_acknowledgement_clock_even_late() -> None:
    late = NOW - timedelta(hours=5)
    for status in (RouteStatus.ACCEPTED, RouteStatus.REJECTED, RouteStatus.IN_PROGRESS):
        clock = acknowledgement_clock(status, late, NOW)
        assert clock.state is ClockState.MET
        assert not clock.breached
    assert acknowledgement_clock(RouteStatus.CANCELLED, late, NOW).state is ClockState.STOPPED


def test_reaching_the_person_meets_the_contact_clock() -> None:
    late = NOW - timedelta(hours=5)
    assert contact_clock(RouteStatus.IN_PROGRESS, late, NOW).state is ClockState.MET
    assert contact_clock(RouteStatus.COMPLETED, late, NOW).state is ClockState.MET
    assert contact_clock(RouteStatus.ACCEPTED, late, NOW).breached
    assert contact_clock(RouteStatus.ON_HOLD, late, NOW).breached
    assert contact_clock(RouteStatus.FAILED, late, NOW).state is ClockState.STOPPED


@given(
    st.sampled_from(list(RouteStatus)),
    st.integers(min_value=-10_000_000, max_value=10_000_000),
)
def test_only_a_running_clock_past_its_time_is_a_breach(status: RouteStatus, seconds: int) -> None:
    due = NOW + timedelta(seconds=seconds)
    for clock in (acknowledgement_clock(status, due, NOW), contact_clock(status, due, NOW)):
        assert clock.breached == (clock.state is ClockState.RUNNING and seconds <= 0)
        if status in TERMINAL_ROUTE_STATUSES:
            assert clock.state is not ClockState.RUNNING
        words = describe(clock)
        assert words.startswith("due in " if seconds > 0 else "overdue by ")
